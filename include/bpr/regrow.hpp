#pragma once
// Regrowth: scores of dead weights, inits of regrown ones, allocation, the regrower.

#include "bpr/regrow/allocation.hpp"
#include "bpr/regrow/init.hpp"
#include "bpr/regrow/regrower.hpp"
#include "bpr/regrow/score.hpp"
#include "bpr/sparse.hpp"
