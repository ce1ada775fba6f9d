"""The two roles of every lab."""

from typing import TypeAlias

Role: TypeAlias = str     # "client" or "server"
ROLES: tuple[Role, Role] = ("client", "server")
