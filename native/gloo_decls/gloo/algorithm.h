// Declarations only, standing in for Gloo's own header (see ../README.md).
#pragma once
#include "gloo/context.h"
