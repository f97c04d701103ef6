#pragma once
// bpr io: checkpoints, safetensors, sparse model files, JSON and atomic writes.
#include "bpr/io/atomic_file.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/data_section.hpp"
#include "bpr/io/json.hpp"
#include "bpr/io/json_reader.hpp"
#include "bpr/io/safetensors.hpp"
#include "bpr/io/sparse_model.hpp"
