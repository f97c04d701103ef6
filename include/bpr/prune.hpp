#pragma once
// One-way pruning: criteria, allocations, schedules and the pruner composing them.

#include "bpr/prune/allocation.hpp"
#include "bpr/prune/criterion.hpp"
#include "bpr/prune/pruner.hpp"
#include "bpr/prune/schedule.hpp"
#include "bpr/report/sparsity_report.hpp"
#include "bpr/sparse.hpp"
