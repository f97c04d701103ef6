#pragma once
// bpr::budget: what the target hardware accepts, and its resolution into keep counts.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"
#include "bpr/sparse/format.hpp"

namespace bpr {

// What it represents: a target for pruning, one of
//  - a sparsity s in [0, 1] over the prunable weights ("99%", "0.99");
//  - a count of alive prunable weights ("615");
//  - a size in bytes of the whole model stored in a storage format ("48KiB",
//    "1.5MB", "20000B"; see bpr::storage_format for what is counted).
// Guarantees: construction rejects negative, non-finite and > 100% values with a
// bpr::error naming the value; resolution (resolve_budget) never clamps silently.
class budget {
  public:
    enum class kind { sparsity, nonzeros, bytes };

    static budget sparsity(double s) {
        BPR_REQUIRE(std::isfinite(s) && s >= 0.0 && s <= 1.0,
                    "budget: sparsity must be in [0, 1] (0% to 100%), got ", s);
        budget b;
        b.kind_ = kind::sparsity;
        b.sparsity_ = s;
        return b;
    }
    static budget nonzeros(index_t count) {
        BPR_REQUIRE(count >= 0, "budget: nonzero count must be >= 0, got ", count);
        budget b;
        b.kind_ = kind::nonzeros;
        b.count_ = count;
        return b;
    }
    static budget bytes(index_t count, storage_format format) {
        BPR_REQUIRE(count >= 0, "budget: byte size must be >= 0, got ", count);
        budget b;
        b.kind_ = kind::bytes;
        b.count_ = count;
        b.format_ = format;
        return b;
    }

    // Parses "99%" or "99.5%" (percent sparsity), "0.99" (a number with a '.' or an
    // exponent: fractional sparsity), "615" (digits only: nonzero count), or a number
    // with a byte unit, case-insensitive: B, KB/kB (1000), KiB (1024), MB, MiB, GB,
    // GiB; byte sizes must come out whole ("1.5KiB" = 1536 is fine, "1.3B" is not).
    // `format` is the storage format of byte budgets.
    static budget parse(std::string_view text, storage_format format = storage_format::csr16) {
        const std::string original(text);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
            text.remove_prefix(1);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
            text.remove_suffix(1);
        BPR_REQUIRE(!text.empty(), "budget: empty budget text '", original, "'");
        std::size_t unit_start = text.size();
        while (unit_start > 0 && (std::isalpha(static_cast<unsigned char>(text[unit_start - 1])) ||
                                  text[unit_start - 1] == '%'))
            --unit_start;
        std::string unit(text.substr(unit_start));
        for (auto& c : unit)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const std::string number(text.substr(0, unit_start));
        BPR_REQUIRE(!number.empty(), "budget: '", original, "' has no number");
        for (char c : number)
            BPR_REQUIRE(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                            c == '+' || c == 'e' || c == 'E',
                        "budget: '", original, "' is not a number with an optional unit");
        char* end = nullptr;
        const double value = std::strtod(number.c_str(), &end);
        BPR_REQUIRE(end == number.c_str() + number.size() && std::isfinite(value), "budget: '",
                    original, "' is not a number with an optional unit");
        BPR_REQUIRE(value >= 0, "budget: '", original, "' is negative");
        if (unit == "%") {
            BPR_REQUIRE(value <= 100, "budget: sparsity '", original, "' is above 100%");
            return sparsity(value / 100.0);
        }
        if (unit.empty()) {
            if (number.find_first_of(".eE") != std::string::npos) {
                BPR_REQUIRE(value <= 1, "budget: fractional sparsity '", original,
                            "' is above 1 (100%); write a nonzero count without '.'");
                return sparsity(value);
            }
            return nonzeros(static_cast<index_t>(std::llround(value)));
        }
        double multiplier = 0;
        if (unit == "b")
            multiplier = 1;
        else if (unit == "kb")
            multiplier = 1e3;
        else if (unit == "kib")
            multiplier = 1024;
        else if (unit == "mb")
            multiplier = 1e6;
        else if (unit == "mib")
            multiplier = 1024.0 * 1024;
        else if (unit == "gb")
            multiplier = 1e9;
        else if (unit == "gib")
            multiplier = 1024.0 * 1024 * 1024;
        BPR_REQUIRE(multiplier > 0, "budget: unknown unit '", text.substr(unit_start), "' in '",
                    original, "' (expected %, B, KB, KiB, MB, MiB, GB or GiB)");
        const double bytes_value = value * multiplier;
        BPR_REQUIRE(std::fabs(bytes_value - std::round(bytes_value)) < 1e-6, "budget: '", original,
                    "' is ", bytes_value, " bytes, not a whole number");
        BPR_REQUIRE(bytes_value < 9e18, "budget: '", original, "' is too large");
        return bytes(static_cast<index_t>(std::llround(bytes_value)), format);
    }

    kind type() const { return kind_; }
    double target_sparsity() const { return sparsity_; }
    index_t count() const { return count_; }  // nonzeros or bytes
    storage_format format() const { return format_; }

    std::string str() const {
        switch (kind_) {
            case kind::sparsity:
                return detail::concat("sparsity ", sparsity_ * 100, "%");
            case kind::nonzeros:
                return detail::concat(count_, " nonzeros");
            case kind::bytes:
                return detail::concat(count_, " bytes in ", format_name(format_));
        }
        return "?";
    }

  private:
    kind kind_ = kind::sparsity;
    double sparsity_ = 0;
    index_t count_ = 0;
    storage_format format_ = storage_format::csr16;
};

// Per-layer guards of pruning. "First" and "last" mean the first and last prunable
// parameter in visit_params order (the stem convolution and the classifier of the
// library's models).
struct prune_guards {
    double min_density = 0.0;  // every layer keeps >= ceil(min_density * size) weights
    index_t min_nonzeros = 1;  // ... and >= this many: no layer collapses to all-zero
    bool keep_first_dense = false;
    bool keep_last_dense = false;
};

// One prunable tensor as the budget sees it. `capacity` is the most weights its
// granularity lets survive (size, except n_of_m), `alive` how many are alive now.
struct budget_layer {
    std::string name;
    index_t size = 0;
    index_t capacity = 0;
    index_t alive = 0;
};

// A budget resolved for one model: the total alive prunable weights, and per layer
// the least (floor) and most (cap) it may keep.
struct resolved_budget {
    index_t nonzeros = 0;
    index_t total = 0;  // prunable weights
    std::vector<index_t> floor, cap;
    double sparsity() const { return total == 0 ? 0.0 : 1.0 - double(nonzeros) / double(total); }
};

// Largest keep count whose sparsity is at least `s` over `total` weights (a 1e-6
// slack absorbs rounding, so that 1 - 0.8^20 keeps exactly floor(0.8^20 * total)).
inline index_t keep_count_for_sparsity(double s, index_t total) {
    const long double keep = (1.0L - static_cast<long double>(s)) * total + 1e-6L;
    return std::clamp<index_t>(static_cast<index_t>(std::floor(keep)), 0, total);
}

namespace detail {

// Largest x in [low, high] with fits(x), given fits is monotone (true then false)
// and fits(low); by bisection, exact for integers.
template <typename Fits>
index_t largest_fitting(index_t low, index_t high, Fits&& fits) {
    while (low < high) {
        const index_t mid = low + (high - low + 1) / 2;
        if (fits(mid))
            low = mid;
        else
            high = mid - 1;
    }
    return low;
}

}  // namespace detail

// Resolves `b` into keep counts for `layers`. `cost` is the byte accounting of the
// model in b.format() (bpr::model_cost), used by byte budgets, which bound the sparse
// model file: they keep the largest nonzero count with
// sparse_header_bytes + cost.bytes(k) <= budget, so the file never exceeds the budget
// and is within one weight's bytes of it (unless everything fits).
// Throws bpr::error, naming the numbers, when the budget cannot be met: a byte
// budget below the fixed overhead, more nonzeros than weights, or fewer nonzeros than
// the guards require (or more than the granularity allows).
inline resolved_budget resolve_budget(const budget& b, std::span<const budget_layer> layers,
                                      const prune_guards& guards, const byte_cost& cost = {}) {
    BPR_REQUIRE(guards.min_density >= 0 && guards.min_density <= 1,
                "prune_guards: min_density must be in [0, 1], got ", guards.min_density);
    BPR_REQUIRE(guards.min_nonzeros >= 0, "prune_guards: min_nonzeros must be >= 0, got ",
                guards.min_nonzeros);
    BPR_REQUIRE(!layers.empty(), "resolve_budget: no prunable layer");
    resolved_budget r;
    index_t floors = 0, caps = 0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const budget_layer& l = layers[i];
        r.total += l.size;
        const bool dense = (guards.keep_first_dense && i == 0) ||
                           (guards.keep_last_dense && i + 1 == layers.size());
        index_t lo = static_cast<index_t>(std::ceil(guards.min_density * double(l.size) - 1e-9));
        lo = std::max(lo, std::min(guards.min_nonzeros, l.size));
        const index_t hi = std::min(l.capacity, l.alive);
        if (dense) lo = std::min(l.size, l.capacity);
        BPR_REQUIRE(lo <= hi, "resolve_budget: layer ", l.name, " must keep ", lo, " weights (",
                    dense ? "kept dense" : "min density/nonzeros", ") but only ", hi, " of its ",
                    l.size, " are alive and allowed");
        r.floor.push_back(lo);
        r.cap.push_back(hi);
        floors += lo;
        caps += hi;
    }
    switch (b.type()) {
        case budget::kind::sparsity:
            r.nonzeros = keep_count_for_sparsity(b.target_sparsity(), r.total);
            break;
        case budget::kind::nonzeros:
            BPR_REQUIRE(b.count() <= r.total, "resolve_budget: budget of ", b.count(),
                        " nonzeros exceeds the model's ", r.total, " prunable weights");
            r.nonzeros = b.count();
            break;
        case budget::kind::bytes:
            BPR_REQUIRE(cost.per_nonzero > 0,
                        "resolve_budget: byte budget needs the model's byte cost");
            const index_t overhead = static_cast<index_t>(sparse_header_bytes) + cost.fixed;
            BPR_REQUIRE(overhead <= b.count(), "resolve_budget: budget of ", b.count(),
                        " bytes is below the fixed overhead of ", overhead, " bytes in ",
                        format_name(b.format()), " (", sparse_header_bytes, "-byte file header + ",
                        cost.fixed, " bytes of sparse structure, dense parameters and buffers)");
            // The model may already fit: then it keeps all alive, allowed weights.
            r.nonzeros = detail::largest_fitting(
                0, caps, [&](index_t k) { return overhead + cost.per_nonzero * k <= b.count(); });
            break;
    }
    BPR_REQUIRE(r.nonzeros >= floors, "resolve_budget: ", b.str(), " keeps ", r.nonzeros, " of ",
                r.total, " weights but the guards need at least ", floors, " (min_density ",
                guards.min_density, ", min_nonzeros ", guards.min_nonzeros, ", keep_first_dense ",
                guards.keep_first_dense, ", keep_last_dense ", guards.keep_last_dense, ")");
    BPR_REQUIRE(r.nonzeros <= caps, "resolve_budget: ", b.str(), " keeps ", r.nonzeros, " of ",
                r.total, " weights but only ", caps,
                " are alive and allowed by the granularity (pruning never revives weights)");
    return r;
}

}  // namespace bpr
