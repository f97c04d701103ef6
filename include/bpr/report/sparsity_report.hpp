#pragma once
// bpr::sparsity_report: per-layer shape, parameters, nonzeros, density and bytes.

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "bpr/core/shape.hpp"
#include "bpr/io/json.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/sparse/format.hpp"
#include "bpr/sparse/mask.hpp"

namespace bpr {

// One prunable parameter in a report.
struct layer_report {
    std::string name;
    shape extents;
    index_t params = 0;
    index_t nonzeros = 0;
    double density = 1.0;
    index_t bytes = 0;  // in the report's storage format
};

// What it represents: how sparse a model is and what it costs in a storage format.
// Guarantees: `bytes` equals bpr::model_bytes (prunable tensors in the format, dense
// parameters and buffers as fp32), i.e. a sparse model file minus its header;
// `sparsity` is over the prunable weights.
struct sparsity_report {
    storage_format format = storage_format::csr16;
    std::vector<layer_report> layers;
    index_t prunable = 0;       // prunable weights
    index_t nonzeros = 0;       // alive prunable weights
    index_t dense_params = 0;   // parameters that are not pruned (bias, batchnorm)
    index_t buffer_values = 0;  // running statistics
    index_t bytes = 0;
    double sparsity = 0;

    // A fixed-width table, one line per prunable parameter, then the totals.
    void print(std::ostream& out) const {
        char line[256];
        std::snprintf(line, sizeof line, "%-32s %-18s %10s %10s %8s %10s\n", "layer", "shape",
                      "params", "nonzeros", "density", "bytes");
        out << line;
        for (const auto& l : layers) {
            std::snprintf(line, sizeof line, "%-32s %-18s %10lld %10lld %7.3f%% %10lld\n",
                          l.name.c_str(), l.extents.str().c_str(), static_cast<long long>(l.params),
                          static_cast<long long>(l.nonzeros), 100.0 * l.density,
                          static_cast<long long>(l.bytes));
            out << line;
        }
        std::snprintf(line, sizeof line, "%-32s %-18s %10lld %10lld %8s %10lld\n",
                      "(dense params + buffers, fp32)", "",
                      static_cast<long long>(dense_params + buffer_values),
                      static_cast<long long>(dense_params + buffer_values), "",
                      static_cast<long long>(4 * (dense_params + buffer_values)));
        out << line;
        std::snprintf(line, sizeof line,
                      "total: %lld prunable weights, %lld nonzeros, sparsity %.4f%%, %lld bytes "
                      "in %s\n",
                      static_cast<long long>(prunable), static_cast<long long>(nonzeros),
                      100.0 * sparsity, static_cast<long long>(bytes),
                      std::string(format_name(format)).c_str());
        out << line;
    }

    json_object to_json() const {
        std::vector<json_object> rows;
        for (const auto& l : layers) {
            std::vector<index_t> extents;
            for (int axis = 0; axis < l.extents.rank(); ++axis)
                extents.push_back(l.extents[axis]);
            rows.push_back(json_object{}
                               .set("name", l.name)
                               .set("shape", extents)
                               .set("params", l.params)
                               .set("nonzeros", l.nonzeros)
                               .set("density", l.density)
                               .set("bytes", l.bytes));
        }
        json_object j;
        j.set("format", format_name(format))
            .set("prunable", prunable)
            .set("nonzeros", nonzeros)
            .set("sparsity", sparsity)
            .set("dense_params", dense_params)
            .set("buffer_values", buffer_values)
            .set("bytes", bytes)
            .set("layers", rows);
        return j;
    }
};

// The report of `model` with `masks` in `format`.
template <typename Model, typename G>
sparsity_report make_sparsity_report(Model& model, const mask_set<G>& masks,
                                     storage_format format) {
    masks.check(model, "sparsity_report");
    sparsity_report r;
    r.format = format;
    std::size_t next = 0;
    visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        if (!masks.roles()(p.role)) {
            r.dense_params += p.value.size();
            return;
        }
        const auto& m = masks[next++].bits;
        layer_report l;
        l.name = name;
        l.extents = p.value.shape();
        l.params = m.size();
        l.nonzeros = m.count();
        l.density = m.density();
        l.bytes = tensor_cost(format, l.extents).bytes(l.nonzeros);
        r.prunable += l.params;
        r.nonzeros += l.nonzeros;
        r.layers.push_back(std::move(l));
    });
    visit_buffers(model, [&](const std::string&, auto& t) { r.buffer_values += t.size(); });
    r.sparsity = r.prunable == 0 ? 0.0 : 1.0 - double(r.nonzeros) / double(r.prunable);
    r.bytes = model_bytes(model, masks, format);
    return r;
}

}  // namespace bpr
