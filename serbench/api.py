"""Everything a plugin needs, from one module: `from serbench.api import Method, register_method, ...`.

- Methods (docs/writing-a-method.md): `Method`, `register_method`, `HP` (a hyperparameter with its allowed values),
  `TaskSpec` and `InputSpec` (what the model is built for), `Batch` (what update and predict get).
- Front-ends (docs/frontends.md): `FrontEnd`, `register_frontend`.
- `SerbenchError`: an error the command line prints as a message with a hint, without a traceback.
"""

from serbench.errors import SerbenchError
from serbench.features.frontends import register_frontend
from serbench.features.frontends.base import FrontEnd
from serbench.method import DOMAINS, HP, Batch, InputSpec, Method, TaskSpec, register_method

__all__ = ["DOMAINS", "HP", "Batch", "FrontEnd", "InputSpec", "Method", "SerbenchError", "TaskSpec",
           "register_frontend", "register_method"]
