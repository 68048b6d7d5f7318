# Copyright (c) s4m-mm authors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
