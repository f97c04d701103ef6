#pragma once
// Sparsity: granularities, masks, storage formats and budgets.

#include "bpr/sparse/budget.hpp"
#include "bpr/sparse/format.hpp"
#include "bpr/sparse/granularity.hpp"
#include "bpr/sparse/mask.hpp"
