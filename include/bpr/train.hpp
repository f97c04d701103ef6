#pragma once
// bpr training: fit, evaluate, the progress line.

#include "bpr/train/evaluate.hpp"
#include "bpr/train/fit.hpp"
#include "bpr/train/progress.hpp"
