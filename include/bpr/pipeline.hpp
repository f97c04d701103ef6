#pragma once
// The bidirectional pipeline: stages, runs, trajectories, cliff detection, and the
// adapters from bpr::fit.

#include "bpr/pipeline/cliff.hpp"
#include "bpr/pipeline/fine_tune.hpp"
#include "bpr/pipeline/pipeline.hpp"
#include "bpr/pipeline/stages.hpp"
#include "bpr/pipeline/trajectory.hpp"
#include "bpr/prune.hpp"
#include "bpr/regrow.hpp"
