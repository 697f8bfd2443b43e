// Umbrella header of the CPU library (never pulls CUDA).
#pragma once

#include "kvc/attention/dense.hpp"
#include "kvc/attention/reference.hpp"
#include "kvc/cache.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/policy/full.hpp"
