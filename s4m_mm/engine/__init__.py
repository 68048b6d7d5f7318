# Copyright (c) s4m-mm authors. All rights reserved.
