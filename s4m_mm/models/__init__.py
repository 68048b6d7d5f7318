# Copyright (c) s4m-mm authors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .refiners import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .pseudo_labelers import *  # noqa: F401,F403
from .sam import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
