"""The one base every contract model shares: frozen, and no field it does not name.

`extra="forbid"` is what makes a build folder from another compiler fail when it is
parsed, naming the key, instead of being read by a runtime that ignores the key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Scalar = bool | int | float | str


class Section(BaseModel):
    # populate_by_name: the compiler builds by field name (`validate_`), files hold the alias
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
