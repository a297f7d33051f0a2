// Reading a prometheus-cpp registry in tests.
#pragma once

#include <map>
#include <string>

#include "prometheus/registry.h"

namespace gptoss::testing {

// Counter/gauge value, or a histogram's sample count, of the series with `labels` (a subset).
inline double Value(prometheus::Registry& registry, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  double total = 0;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const prometheus::ClientMetric::Label& l : m.label) found |= l.name == k && l.value == v;
        match &= found;
      }
      if (!match) continue;
      if (family.type == prometheus::MetricType::Counter) total += m.counter.value;
      if (family.type == prometheus::MetricType::Gauge) total += m.gauge.value;
      if (family.type == prometheus::MetricType::Histogram)
        total += static_cast<double>(m.histogram.sample_count);
    }
  }
  return total;
}

}  // namespace gptoss::testing
