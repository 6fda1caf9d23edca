"""Recursive-descent parser for the supported P4_16 subset, producing the typed AST in `ast.py`.

Like p4c, it tracks which identifiers name types, which is what makes `T x;` vs `a < b` decidable.
Anything outside the subset is a P4Error naming the file, line and construct.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import ast as A
from .annotations import check_annotation, check_pragma
from .errors import Loc, P4Error
from .lexer import Token, tokenize

_T = TypeVar("_T")

_BINARY_PREC = {
    "||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4,
    "|": 5, "^": 6, "&": 7, "<<": 8, ">>": 8,
    "++": 9, "+": 9, "-": 9, "|+|": 9, "|-|": 9, "*": 10, "/": 10, "%": 10,
}
_BUILTIN_TYPES = {"packet_in", "packet_out"}


class _Backtrack(Exception):
    pass


class Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.pos = 0
        self.types: set[str] = set(_BUILTIN_TYPES)
        self.type_scopes: list[set[str]] = []

    # ------------------------------------------------------------ token helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def peek(self, n: int = 1) -> Token:
        return self.toks[min(self.pos + n, len(self.toks) - 1)]

    def advance(self) -> Token:
        t = self.toks[self.pos]
        if t.kind != "eof":
            self.pos += 1
        return t

    def error(self, message: str, tok: Token | None = None) -> P4Error:
        return P4Error((tok or self.tok).loc, message)

    def describe(self, t: Token) -> str:
        return "end of input" if t.kind == "eof" else repr(str(t.value) if t.kind != "int" else t.int_lit().value)

    def at_op(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.value == op

    def at_kw(self, kw: str) -> bool:
        return self.tok.kind == "kw" and self.tok.value == kw

    def accept_op(self, op: str) -> bool:
        if self.at_op(op):
            self.advance()
            return True
        return False

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.error(f"expected '{op}' but found {self.describe(self.tok)}")
        return self.advance()

    def expect_kw(self, kw: str) -> Token:
        if not self.at_kw(kw):
            raise self.error(f"expected '{kw}' but found {self.describe(self.tok)}")
        return self.advance()

    def expect_name(self, what: str = "identifier") -> str:
        t = self.tok
        if t.kind == "id":
            self.advance()
            return str(t.value)
        raise self.error(f"expected {what} but found {self.describe(t)}")

    def is_type_name(self, t: Token) -> bool:
        if t.kind != "id":
            return False
        name = str(t.value)
        return name in self.types or any(name in s for s in self.type_scopes)

    def starts_type(self, t: Token) -> bool:
        return (t.kind == "kw" and t.value in ("bit", "int", "bool", "varbit", "void", "error", "tuple")) or (
            self.is_type_name(t)
        )

    def attempt(self, fn: Callable[[], _T]) -> _T | None:
        saved = self.pos
        try:
            return fn()
        except (_Backtrack, P4Error):
            self.pos = saved
            return None

    # ------------------------------------------------------------ program
    def parse_program(self) -> A.Program:
        decls: list[A.Decl] = []
        while self.tok.kind != "eof":
            if self.accept_op(";"):
                continue
            decls.append(self.parse_top_decl())
        return A.Program(decls)

    def parse_annotations(self, position: str) -> list[A.Annotation]:
        """The annotations before a construct at `position` (see annotations.check_annotation)."""
        return self.check_annotations(self.read_annotations(), position)

    @staticmethod
    def check_annotations(anns: list[A.Annotation], position: str) -> list[A.Annotation]:
        for a in anns:
            check_annotation(a.name, position, a.loc)
        return anns

    def read_annotations(self) -> list[A.Annotation]:
        """The annotations before a construct, unchecked; `@pragma` lines are checked and consumed here."""
        anns: list[A.Annotation] = []
        while self.at_op("@"):
            at = self.advance()
            t = self.advance()
            if t.kind not in ("id", "kw"):
                raise self.error("expected annotation name", t)
            name = str(t.value)
            if name == "pragma":  # `@pragma name tokens...` up to the end of the line
                p = self.advance()
                if p.kind not in ("id", "kw") or p.loc != t.loc:
                    raise self.error("expected a pragma name after @pragma", p)
                check_pragma(str(p.value), p.loc)
                while self.tok.kind != "eof" and self.tok.loc == p.loc:
                    self.advance()
                continue
            args: list[A.Expr] = []
            if self.at_op("(") and self.tok.loc == t.loc:
                args = self.parse_annotation_body()
            anns.append(A.Annotation(name, args, at.loc))
        return anns

    def parse_annotation_body(self) -> list[A.Expr]:
        # Annotation bodies are free-form token lists in P4_16; keep the ones that are expressions.
        start = self.pos
        self.expect_op("(")
        depth = 1
        while depth:
            t = self.advance()
            if t.kind == "eof":
                raise self.error("unterminated annotation", t)
            if t.is_op("("):
                depth += 1
            elif t.is_op(")"):
                depth -= 1
        end = self.pos
        sub = Parser([*self.toks[start + 1 : end - 1], Token("eof", None, self.toks[end - 1].loc)])
        sub.types = self.types
        try:
            items = [sub.parse_expr()] if sub.tok.kind != "eof" else []
            while sub.accept_op(","):
                items.append(sub.parse_expr())
            return items if sub.tok.kind == "eof" else []
        except P4Error:
            return []

    def parse_top_decl(self) -> A.Decl:
        anns = self.read_annotations()
        t = self.tok
        if t.kind == "kw" and t.value in ("parser", "control", "action"):
            self.check_annotations(anns, str(t.value))
        else:
            self.check_annotations(anns, "instance" if self.starts_type(t) else "declaration")
        if t.kind == "kw":
            kw = t.value
            if kw == "const":
                return self.parse_const()
            if kw == "typedef":
                return self.parse_typedef()
            if kw in ("header", "struct"):
                return self.parse_struct_like()
            if kw == "header_union":
                raise self.error("header_union is not supported by the emulator")
            if kw == "enum":
                return self.parse_enum()
            if kw in ("error", "match_kind") and self.peek().is_op("{"):
                return self.parse_member_list_decl()
            if kw == "extern":
                return self.parse_extern()
            if kw in ("parser", "control"):
                return self.parse_parser_or_control(anns)
            if kw == "package":
                return self.parse_block_type("package")
            if kw == "action":
                return self.parse_action(anns)
        if self.starts_type(t):
            return self.parse_instantiation_or_function(anns)
        raise self.error(f"unsupported top-level declaration starting with {self.describe(t)}")

    # ------------------------------------------------------------ simple declarations
    def parse_const(self) -> A.ConstDecl:
        loc = self.expect_kw("const").loc
        typ = self.parse_type()
        name = self.expect_name("constant name")
        self.expect_op("=")
        value = self.parse_expr()
        self.expect_op(";")
        return A.ConstDecl(loc, name, typ, value)

    def parse_typedef(self) -> A.TypedefDecl:
        loc = self.expect_kw("typedef").loc
        typ = self.parse_type()
        name = self.expect_name("type name")
        self.expect_op(";")
        self.types.add(name)
        return A.TypedefDecl(loc, name, typ)

    def parse_struct_like(self) -> A.Decl:
        kw = self.advance()
        name = self.expect_name(f"{kw.value} name")
        self.types.add(name)
        self.expect_op("{")
        fields: list[A.FieldDecl] = []
        while not self.accept_op("}"):
            fanns = self.parse_annotations("field")
            floc = self.tok.loc
            ftype = self.parse_type()
            fname = self.expect_name("field name")
            self.expect_op(";")
            fields.append(A.FieldDecl(floc, ftype, fname, any(a.name == "flexible" for a in fanns)))
        if kw.value == "header":
            return A.HeaderDecl(kw.loc, name, fields)
        return A.StructDecl(kw.loc, name, fields)

    def parse_enum(self) -> A.EnumDecl:
        loc = self.expect_kw("enum").loc
        underlying = self.parse_type() if self.at_kw("bit") or self.at_kw("int") else None
        name = self.expect_name("enum name")
        self.types.add(name)
        self.expect_op("{")
        members: list[str] = []
        values: list[A.Expr] = []
        while not self.at_op("}"):
            members.append(self.expect_name("enum member"))
            if underlying is not None:
                self.expect_op("=")
                values.append(self.parse_expr())
            if not self.accept_op(","):
                break
        self.expect_op("}")
        return A.EnumDecl(loc, name, members, underlying, values)

    def parse_member_list_decl(self) -> A.Decl:
        kw = self.advance()
        self.expect_op("{")
        members: list[str] = []
        while not self.at_op("}"):
            members.append(self.expect_name("member name"))
            if not self.accept_op(","):
                break
        self.expect_op("}")
        if kw.value == "error":
            return A.ErrorDecl(kw.loc, "error", members)
        return A.MatchKindDecl(kw.loc, "match_kind", members)

    def parse_type_params(self) -> list[str]:
        params: list[str] = []
        if self.accept_op("<"):
            while True:
                params.append(self.expect_name("type parameter"))
                if not self.accept_op(","):
                    break
            self.expect_op(">")
        return params

    def parse_params(self) -> list[A.Param]:
        self.expect_op("(")
        params: list[A.Param] = []
        while not self.at_op(")"):
            anns = self.parse_annotations("parameter")
            loc = self.tok.loc
            direction = ""
            if self.tok.kind == "kw" and self.tok.value in ("in", "out", "inout"):
                direction = str(self.advance().value)
            typ = self.parse_type()
            name = self.expect_name("parameter name")
            default = self.parse_expr() if self.accept_op("=") else None
            params.append(A.Param(loc, direction, typ, name, anns, default))
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return params

    def parse_extern(self) -> A.Decl:
        loc = self.expect_kw("extern").loc
        # `extern Name<T> { ... }` or `extern RetType name<T>(params);`
        if self.tok.kind == "id" and (self.peek().is_op("{") or self.peek().is_op("<")) and not (
            self.is_type_name(self.tok) and self.peek().kind == "id"
        ):
            name = self.expect_name()
            self.types.add(name)
            tparams = self.parse_type_params()
            if self.at_op("{"):
                self.type_scopes.append(set(tparams))
                try:
                    methods = self.parse_extern_body(name)
                finally:
                    self.type_scopes.pop()
                return A.ExternDecl(loc, name, tparams, methods)
            raise self.error("expected '{' in extern declaration")
        self.types.discard("")
        ret_scope: set[str] = set()
        self.type_scopes.append(ret_scope)
        try:
            # The return type may use the function's own type parameters: peek for `<` after the name.
            if self.tok.kind == "id" and not self.is_type_name(self.tok):
                ret_scope.add(str(self.tok.value))
            ret = self.parse_type()
            name = self.expect_name("extern function name")
            tparams = self.parse_type_params()
            ret_scope.update(tparams)
            params = self.parse_params()
        finally:
            self.type_scopes.pop()
        self.expect_op(";")
        return A.ExternFuncDecl(loc, name, ret, tparams, params)

    def parse_extern_body(self, ext_name: str) -> list[A.MethodDecl]:
        self.expect_op("{")
        methods: list[A.MethodDecl] = []
        while not self.accept_op("}"):
            self.parse_annotations("method")
            loc = self.tok.loc
            abstract = False
            if self.tok.kind == "id" and self.tok.value == "abstract":
                self.advance()
                abstract = True
            if self.tok.kind == "id" and self.tok.value == ext_name and self.peek().is_op("("):
                self.advance()
                methods.append(A.MethodDecl(loc, ext_name, None, [], self.parse_params()))
                self.expect_op(";")
                continue
            scope: set[str] = set()
            self.type_scopes.append(scope)
            try:
                # Method type parameters appear after the name but may be used by the return type.
                j = self.pos
                while j < len(self.toks) and not self.toks[j].is_op("("):
                    if self.toks[j].is_op("<") and j > self.pos and self.toks[j - 1].kind == "id":
                        k = j + 1
                        while self.toks[k].kind == "id":
                            scope.add(str(self.toks[k].value))
                            if self.toks[k + 1].is_op(","):
                                k += 2
                            else:
                                break
                    j += 1
                ret = self.parse_type()
                name = str(self.advance().value)
                tparams = self.parse_type_params()
                params = self.parse_params()
            finally:
                self.type_scopes.pop()
            self.expect_op(";")
            methods.append(A.MethodDecl(loc, name, ret, tparams, params, abstract))
        return methods

    def parse_block_type(self, kind: str) -> A.BlockTypeDecl:
        loc = self.advance().loc
        name = self.expect_name(f"{kind} type name")
        self.types.add(name)
        tparams = self.parse_type_params()
        self.type_scopes.append(set(tparams))
        try:
            params = self.parse_params()
        finally:
            self.type_scopes.pop()
        self.expect_op(";")
        return A.BlockTypeDecl(loc, name, kind, tparams, params)

    # ------------------------------------------------------------ parsers and controls
    def parse_parser_or_control(self, anns: list[A.Annotation]) -> A.Decl:
        kind = str(self.tok.value)
        start = self.pos
        self.advance()
        name = self.expect_name(f"{kind} name")
        tparams = self.parse_type_params()
        self.type_scopes.append(set(tparams))
        try:
            params = self.parse_params()
            if self.at_op(";"):
                self.pos = start
                self.type_scopes.pop()
                self.type_scopes.append(set())
                return self.parse_block_type(kind)
            self.types.add(name)
            ctor = self.parse_params() if self.at_op("(") else []
            self.expect_op("{")
            if kind == "parser":
                return self.parse_parser_body(start, name, tparams, params, ctor, anns)
            return self.parse_control_body(start, name, tparams, params, ctor, anns)
        finally:
            self.type_scopes.pop()

    def parse_parser_body(self, start, name, tparams, params, ctor, anns) -> A.ParserDecl:
        loc = self.toks[start].loc
        local_decls: list = []
        states: list[A.StateDecl] = []
        while not self.accept_op("}"):
            lanns = self.read_annotations()
            if self.at_kw("state"):
                self.check_annotations(lanns, "state")
                states.append(self.parse_state())
            elif self.at_kw("value_set"):
                self.check_annotations(lanns, "declaration")
                vloc = self.tok.loc
                self.advance()
                self.expect_op("<")
                vtype = self.parse_type()
                self.expect_op(">")
                self.expect_op("(")
                vsize = self.parse_expr()
                self.expect_op(")")
                vname = self.expect_name("value set name")
                self.expect_op(";")
                local_decls.append(A.ValueSetDecl(vloc, vname, vtype, vsize))
            else:
                local_decls.append(self.parse_local_decl(lanns))
        return A.ParserDecl(loc, name, tparams, params, ctor, local_decls, states, anns)

    def parse_control_body(self, start, name, tparams, params, ctor, anns) -> A.ControlDecl:
        loc = self.toks[start].loc
        local_decls: list = []
        while not self.at_kw("apply"):
            if self.tok.kind == "eof" or self.at_op("}"):
                raise self.error(f"control {name} has no apply block")
            lanns = self.read_annotations()
            if self.at_kw("action"):
                local_decls.append(self.parse_action(self.check_annotations(lanns, "action")))
            elif self.at_kw("table"):
                local_decls.append(self.parse_table(self.check_annotations(lanns, "table")))
            else:
                local_decls.append(self.parse_local_decl(lanns))
        self.expect_kw("apply")
        body = self.parse_block()
        self.expect_op("}")
        return A.ControlDecl(loc, name, tparams, params, ctor, local_decls, body, anns)

    def parse_local_decl(self, anns: list[A.Annotation]) -> A.Decl | A.VarDecl:
        """A parser/control local; `anns` are still unchecked."""
        if self.at_kw("const"):
            self.check_annotations(anns, "declaration")
            return self.parse_const()
        if self.at_kw("action") or self.at_kw("table") or self.at_kw("state"):
            raise self.error(f"'{self.tok.value}' is not allowed here")
        if not self.starts_type(self.tok):
            if self.tok.kind == "id" and (self.peek().kind == "id" or self.peek().is_op("<") or self.peek().is_op("(")):
                raise self.error(f"unknown type '{self.tok.value}'")
            raise self.error(f"unsupported declaration starting with {self.describe(self.tok)}")
        loc = self.tok.loc
        typ = self.parse_type()
        if self.at_op("("):
            return self.finish_instantiation(loc, typ, self.check_annotations(anns, "instance"))
        self.check_annotations(anns, "declaration")
        name = self.expect_name("variable name")
        init = self.parse_expr() if self.accept_op("=") else None
        self.expect_op(";")
        return A.VarDecl(loc, typ, name, init)

    def parse_instantiation_or_function(self, anns: list[A.Annotation]) -> A.Decl:
        loc = self.tok.loc
        typ = self.parse_type()
        if self.at_op("("):
            return self.finish_instantiation(loc, typ, anns)
        if self.tok.kind == "id" and self.peek().is_op("("):
            raise self.error("function declarations are not supported by the emulator")
        raise self.error(f"expected an instantiation but found {self.describe(self.tok)}")

    def finish_instantiation(self, loc: Loc, typ: A.TypeRef, anns: list[A.Annotation]) -> A.Instantiation:
        args = self.parse_args()
        name = self.expect_name("instance name")
        funcs: list[A.FunctionDecl] = []
        if self.accept_op("="):
            self.expect_op("{")
            while not self.accept_op("}"):
                self.parse_annotations("method")
                floc = self.tok.loc
                ret = self.parse_type()
                fname = str(self.advance().value)
                params = self.parse_params()
                funcs.append(A.FunctionDecl(floc, fname, ret, params, self.parse_block()))
        self.expect_op(";")
        return A.Instantiation(loc, name, typ, args, funcs, anns)

    def parse_state(self) -> A.StateDecl:
        loc = self.expect_kw("state").loc
        name = self.expect_name("state name")
        self.expect_op("{")
        stmts: list[A.Stmt] = []
        transition = None
        while not self.accept_op("}"):
            if self.at_kw("transition"):
                transition = self.parse_transition()
                if not self.at_op("}"):
                    raise self.error("transition must be the last statement of a state")
                continue
            stmts.append(self.parse_stmt())
        return A.StateDecl(loc, name, stmts, transition)

    def parse_transition(self) -> A.Transition:
        loc = self.expect_kw("transition").loc
        if self.at_kw("select"):
            self.advance()
            self.expect_op("(")
            exprs = [self.parse_expr()]
            while self.accept_op(","):
                exprs.append(self.parse_expr())
            self.expect_op(")")
            self.expect_op("{")
            cases: list[A.SelectCase] = []
            while not self.accept_op("}"):
                cloc = self.tok.loc
                keyset = self.parse_keyset()
                self.expect_op(":")
                cases.append(A.SelectCase(cloc, keyset, self.expect_name("state name")))
                self.expect_op(";")
            return A.Transition(loc, exprs, cases, None)
        name = self.expect_name("state name")
        self.expect_op(";")
        return A.Transition(loc, None, [], name)

    def parse_keyset(self) -> list[A.Expr]:
        if self.at_op("(") and not self.starts_type(self.peek()):
            # A tuple keyset `(a, b)`; a parenthesised single expression is also fine.
            saved = self.pos
            self.advance()
            items = [self.parse_keyset_expr()]
            if self.at_op(","):
                while self.accept_op(","):
                    items.append(self.parse_keyset_expr())
                self.expect_op(")")
                return items
            self.pos = saved
        return [self.parse_keyset_expr()]

    def parse_keyset_expr(self) -> A.Expr:
        loc = self.tok.loc
        if self.at_kw("default"):
            self.advance()
            return A.Default(loc)
        if self.tok.kind == "id" and self.tok.value == "_":
            self.advance()
            return A.Default(loc)
        value = self.parse_expr()
        if self.accept_op("&&&"):
            return A.Mask(loc, value, self.parse_expr())
        if self.accept_op(".."):
            return A.Range(loc, value, self.parse_expr())
        return value

    # ------------------------------------------------------------ actions and tables
    def parse_action(self, anns: list[A.Annotation]) -> A.ActionDecl:
        loc = self.expect_kw("action").loc
        name = self.expect_name("action name")
        params = self.parse_params()
        return A.ActionDecl(loc, name, params, self.parse_block(), anns)

    def parse_table(self, anns: list[A.Annotation]) -> A.TableDecl:
        loc = self.expect_kw("table").loc
        name = self.expect_name("table name")
        self.expect_op("{")
        keys: list[A.KeyElement] = []
        actions: list[A.ActionRef] = []
        default: A.ActionRef | None = None
        default_const = False
        entries: list[A.ConstEntry] | None = None
        size = counters = None
        extra: dict[str, A.Expr] = {}
        idle = False
        proxy: A.Instantiation | None = None
        seen: set[str] = set()
        while not self.accept_op("}"):
            self.parse_annotations("property")
            is_const = False
            if self.at_kw("const"):
                self.advance()
                is_const = True
            ptok = self.advance()
            prop = str(ptok.value)
            if prop in seen:
                raise self.error(f"table property '{prop}' given twice", ptok)
            seen.add(prop)
            if prop == "key":
                self.expect_op("=")
                self.expect_op("{")
                while not self.accept_op("}"):
                    kloc = self.tok.loc
                    kexpr = self.parse_expr()
                    self.expect_op(":")
                    kind = self.expect_name("match kind")
                    kanns = self.parse_annotations("key")
                    self.expect_op(";")
                    keys.append(A.KeyElement(kloc, kexpr, kind, kanns))
            elif prop == "actions":
                self.expect_op("=")
                self.expect_op("{")
                while not self.accept_op("}"):
                    aanns = self.parse_annotations("table action")
                    actions.append(self.parse_action_ref(aanns))
                    self.expect_op(";")
            elif prop == "default_action":
                self.expect_op("=")
                default = self.parse_action_ref([])
                default_const = is_const
                self.expect_op(";")
            elif prop == "entries":
                self.expect_op("=")
                self.expect_op("{")
                entries = []
                while not self.accept_op("}"):
                    self.parse_annotations("entry")
                    eloc = self.tok.loc
                    prio = None
                    if self.tok.kind == "id" and self.tok.value == "priority" and self.peek().is_op("="):
                        self.advance()
                        self.advance()
                        prio = self.parse_expr()
                        self.expect_op(":")
                    keyset = self.parse_keyset()
                    self.expect_op(":")
                    aref = self.parse_action_ref([])
                    self.expect_op(";")
                    pval = prio.value if isinstance(prio, A.IntConst) else None
                    entries.append(A.ConstEntry(eloc, keyset, aref, pval))
                if not is_const:
                    raise self.error("only 'const entries' are supported", ptok)
            elif prop == "size":
                self.expect_op("=")
                size = self.parse_expr()
                self.expect_op(";")
            elif prop == "counters":
                self.expect_op("=")
                counters = self.parse_expr()
                self.expect_op(";")
            elif prop == "idle_timeout":  # `idle_timeout = true;`: entries age (BF Runtime $ENTRY_TTL / hit state)
                self.expect_op("=")
                itok = self.tok
                value = self.parse_expr()
                if not isinstance(value, A.BoolConst):
                    raise self.error("'idle_timeout' must be true or false", itok)
                idle = value.value
                self.expect_op(";")
            elif prop == "proxy_hash":  # `proxy_hash = Hash<bit<W>>(algo[, poly]);`: an anonymous Hash
                self.expect_op("=")
                ploc = self.tok.loc
                ptype = self.parse_type()
                proxy = A.Instantiation(ploc, f"{name}.$proxy_hash", ptype, self.parse_args())
                self.expect_op(";")
            elif prop in ("meters", "implementation", "registers", "alpm", "atcam", "filters"):
                self.expect_op("=")
                extra["algo" if prop in ("alpm", "atcam") else prop] = self.parse_expr()
                self.expect_op(";")
            else:
                raise self.error(f"table property '{prop}' is not supported by the emulator", ptok)
        return A.TableDecl(loc, name, keys, actions, default, default_const, entries, size, counters, anns,
                           meters=extra.get("meters"), implementation=extra.get("implementation"),
                           registers=extra.get("registers"), algo=extra.get("algo"), filters=extra.get("filters"),
                           proxy_hash=proxy, idle_timeout=idle)

    def parse_action_ref(self, anns: list[A.Annotation]) -> A.ActionRef:
        loc = self.tok.loc
        name = self.expect_name("action name")
        while self.at_op(".") and self.peek().kind == "id":  # qualified `.NoAction` or `ctl.act`
            self.advance()
            name += "." + self.expect_name()
        args = self.parse_args() if self.at_op("(") else []
        return A.ActionRef(loc, name, args, anns)

    # ------------------------------------------------------------ types
    def parse_type(self) -> A.TypeRef:
        t = self.tok
        loc = t.loc
        typ: A.TypeRef
        if t.is_kw("bit") or t.is_kw("int"):
            self.advance()
            signed = t.value == "int"
            if self.accept_op("<"):
                if self.at_op("("):
                    self.advance()
                    width = self.parse_expr()
                    self.expect_op(")")
                else:
                    width = self.parse_primary()
                self.expect_op(">")
            elif signed:
                raise self.error("arbitrary-precision 'int' is only allowed for constants", t)
            else:
                width = A.IntConst(loc, 1)
            typ = A.BitsType(loc, width, signed)
        elif t.is_kw("bool"):
            self.advance()
            typ = A.BoolType(loc)
        elif t.is_kw("void"):
            self.advance()
            typ = A.VoidType(loc)
        elif t.is_kw("error"):
            self.advance()
            typ = A.ErrorType(loc)
        elif t.is_kw("varbit"):
            raise self.error("varbit is not supported by the emulator", t)
        elif t.is_kw("tuple") or t.is_kw("string"):
            raise self.error(f"'{t.value}' types are not supported by the emulator", t)
        elif t.kind == "id" and t.value == "_":
            self.advance()
            typ = A.DontCareType(loc)
        elif self.is_type_name(t):
            self.advance()
            args: list[A.TypeRef] = []
            if self.at_op("<"):
                self.advance()
                while True:
                    args.append(self.parse_type())
                    if not self.accept_op(","):
                        break
                self.expect_op(">")
            typ = A.NamedType(loc, str(t.value), args)
        elif t.kind == "id":
            raise self.error(f"unknown type '{t.value}'", t)
        else:
            raise self.error(f"expected a type but found {self.describe(t)}", t)
        while self.at_op("[") and not self.peek().is_op("]"):
            self.advance()
            size = self.parse_expr()
            self.expect_op("]")
            typ = A.StackType(loc, typ, size)
        return typ

    # ------------------------------------------------------------ statements
    def parse_block(self) -> A.Block:
        loc = self.expect_op("{").loc
        stmts: list[A.Stmt] = []
        while not self.accept_op("}"):
            if self.tok.kind == "eof":
                raise self.error("unterminated block")
            stmts.append(self.parse_stmt())
        return A.Block(loc, stmts)

    def parse_stmt(self) -> A.Stmt:
        self.parse_annotations("statement")
        t = self.tok
        loc = t.loc
        if t.is_op("{"):
            return self.parse_block()
        if t.is_op(";"):
            self.advance()
            return A.Empty(loc)
        if t.kind == "kw":
            if t.value == "if":
                self.advance()
                self.expect_op("(")
                cond = self.parse_expr()
                self.expect_op(")")
                then = self.parse_stmt()
                other = None
                if self.at_kw("else"):
                    self.advance()
                    other = self.parse_stmt()
                return A.If(loc, cond, then, other)
            if t.value == "switch":
                return self.parse_switch()
            if t.value == "return":
                self.advance()
                value = None if self.at_op(";") else self.parse_expr()
                self.expect_op(";")
                return A.Return(loc, value)
            if t.value == "exit":
                self.advance()
                self.expect_op(";")
                return A.Exit(loc)
            if t.value == "const":
                c = self.parse_const()
                return A.VarDecl(c.loc, c.type, c.name, c.value, is_const=True)
            if t.value in ("bit", "int", "bool", "varbit", "error") and not self.peek().is_op("."):
                return self.parse_var_decl()
            if t.value in ("action", "table", "state", "transition"):
                raise self.error(f"'{t.value}' is not allowed here", t)
        if self.is_type_name(t) and not self.peek().is_op(".") and not self.peek().is_op("("):
            return self.parse_var_decl()
        target = self.parse_expr()
        if self.accept_op("="):
            value = self.parse_expr()
            self.expect_op(";")
            return A.Assign(loc, target, value)
        self.expect_op(";")
        if not isinstance(target, A.Call):
            raise P4Error(loc, "expression statement must be a call or an assignment")
        return A.CallStmt(loc, target)

    def parse_var_decl(self) -> A.VarDecl:
        loc = self.tok.loc
        typ = self.parse_type()
        name = self.expect_name("variable name")
        init = self.parse_expr() if self.accept_op("=") else None
        self.expect_op(";")
        return A.VarDecl(loc, typ, name, init)

    def parse_switch(self) -> A.Switch:
        loc = self.expect_kw("switch").loc
        self.expect_op("(")
        expr = self.parse_expr()
        self.expect_op(")")
        self.expect_op("{")
        cases: list[A.SwitchCase] = []
        while not self.accept_op("}"):
            cloc = self.tok.loc
            label: A.Expr | None
            if self.at_kw("default"):
                self.advance()
                label = None
            else:
                label = self.parse_expr()
            self.expect_op(":")
            body = self.parse_block() if self.at_op("{") else None
            cases.append(A.SwitchCase(cloc, [label], body))
        return A.Switch(loc, expr, cases)

    # ------------------------------------------------------------ expressions
    def parse_args(self) -> list[A.Expr]:
        self.expect_op("(")
        args: list[A.Expr] = []
        while not self.at_op(")"):
            if self.tok.kind == "id" and self.tok.value == "_" :
                args.append(A.Default(self.advance().loc))
            elif self.tok.kind == "id" and self.peek().is_op("="):
                ntok = self.advance()
                self.advance()
                args.append(A.NamedArg(ntok.loc, str(ntok.value), self.parse_expr()))
            else:
                args.append(self.parse_expr())
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return args

    def parse_expr(self) -> A.Expr:
        cond = self.parse_binary(1)
        if self.at_op("?"):
            loc = self.advance().loc
            then = self.parse_expr()
            self.expect_op(":")
            other = self.parse_expr()
            return A.Ternary(loc, cond, then, other)
        return cond

    def binary_op(self) -> tuple[str, int] | None:
        t = self.tok
        if t.kind != "op":
            return None
        op = str(t.value)
        if op == ">" and t.adjacent and self.peek().is_op(">"):
            return ">>", 2
        if op in _BINARY_PREC:
            return op, 1
        return None

    def parse_binary(self, min_prec: int) -> A.Expr:
        left = self.parse_unary()
        while True:
            found = self.binary_op()
            if found is None:
                return left
            op, ntoks = found
            prec = _BINARY_PREC[op]
            if prec < min_prec:
                return left
            loc = self.tok.loc
            for _ in range(ntoks):
                self.advance()
            right = self.parse_binary(prec + 1)
            left = A.Binary(loc, op, left, right)

    def parse_unary(self) -> A.Expr:
        t = self.tok
        if t.kind == "op" and t.value in ("!", "~", "-", "+"):
            self.advance()
            operand = self.parse_unary()
            if t.value == "+":
                return operand
            return A.Unary(t.loc, str(t.value), operand)
        if t.is_op("(") and self.starts_type(self.peek()):
            cast = self.attempt(self.parse_cast)
            if cast is not None:
                return cast
        return self.parse_postfix(self.parse_primary())

    def parse_cast(self) -> A.Expr:
        loc = self.expect_op("(").loc
        typ = self.parse_type()
        if not self.at_op(")"):
            raise _Backtrack()
        self.advance()
        return A.Cast(loc, typ, self.parse_unary())

    def parse_primary(self) -> A.Expr:
        t = self.tok
        loc = t.loc
        if t.kind == "int":
            self.advance()
            lit = t.int_lit()
            return A.IntConst(loc, lit.value, lit.width, lit.signed)
        if t.kind == "str":
            self.advance()
            return A.StringConst(loc, str(t.value))
        if t.kind == "kw":
            if t.value in ("true", "false"):
                self.advance()
                return A.BoolConst(loc, t.value == "true")
            if t.value == "error":
                self.advance()
                return A.Name(loc, "error")
        if t.kind == "id":
            self.advance()
            return A.Name(loc, str(t.value))
        if t.is_op("."):  # `.name`: top-level scope
            self.advance()
            return A.Name(loc, self.expect_name())
        if t.is_op("("):
            self.advance()
            e = self.parse_expr()
            self.expect_op(")")
            return e
        if t.is_op("{"):
            self.advance()
            items: list[A.Expr] = []
            while not self.at_op("}"):
                items.append(self.parse_expr())
                if not self.accept_op(","):
                    break
            self.expect_op("}")
            return A.ListExpr(loc, items)
        raise self.error(f"expected an expression but found {self.describe(t)}")

    def parse_postfix(self, e: A.Expr) -> A.Expr:
        while True:
            t = self.tok
            if t.is_op("."):
                self.advance()
                m = self.advance()
                if m.kind not in ("id", "kw"):
                    raise self.error("expected a member name", m)
                e = A.Member(t.loc, e, str(m.value))
            elif t.is_op("["):
                self.advance()
                first = self.parse_expr()
                if self.accept_op(":"):
                    lo = self.parse_expr()
                    self.expect_op("]")
                    e = A.Slice(t.loc, e, first, lo)
                else:
                    self.expect_op("]")
                    e = A.Index(t.loc, e, first)
            elif t.is_op("("):
                e = A.Call(t.loc, e, [], self.parse_args())
            elif t.is_op("<") and isinstance(e, (A.Name, A.Member)) and self.starts_type(self.peek()):
                targs = self.attempt(self.parse_call_type_args)
                if targs is None:
                    return e
                e = A.Call(t.loc, e, targs, self.parse_args())
            else:
                return e

    def parse_call_type_args(self) -> list[A.TypeRef]:
        self.expect_op("<")
        args = [self.parse_type()]
        while self.accept_op(","):
            args.append(self.parse_type())
        self.expect_op(">")
        if not self.at_op("("):
            raise _Backtrack()
        return args


def parse_text(text: str, filename: str = "<input>") -> A.Program:
    return Parser(tokenize(text, filename)).parse_program()
