#pragma once
// bpr optimizers and learning-rate schedules.

#include "bpr/optim/adamw.hpp"
#include "bpr/optim/optimizer.hpp"
#include "bpr/optim/schedule.hpp"
#include "bpr/optim/sgd.hpp"
