"""P4_16 + TNA front end: preprocessor, lexer, parser (typed AST)."""
