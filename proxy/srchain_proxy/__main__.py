from .cli import proxy_cli

proxy_cli(prog_name="srchain-proxy")
