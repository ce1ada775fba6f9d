"""The two roles of every lab."""

from typing import Literal

Role = Literal["client", "server"]
ROLES: tuple[Role, Role] = ("client", "server")
