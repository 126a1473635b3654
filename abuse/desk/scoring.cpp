#include "abuse/desk/scoring.hpp"

#include <algorithm>

namespace portcullis::abuse {

double weight_of(const Weights& weights, store::SignalKind kind) {
  const auto it = weights.find(std::string(store::to_string(kind)));
  return it == weights.end() ? 0.0 : it->second;
}

std::vector<ScoreTerm> score_terms(std::span<const store::Signal> signals, const Weights& weights) {
  std::vector<ScoreTerm> terms;
  for (const auto kind : store::all_signal_kinds()) {
    ScoreTerm term;
    term.kind = kind;
    term.weight = weight_of(weights, kind);
    for (const auto& s : signals) {
      if (s.kind == kind) {
        ++term.signals;
        term.strength += s.strength;
      }
    }
    if (term.signals > 0) {
      term.points = term.strength * term.weight;
      terms.push_back(term);
    }
  }
  std::stable_sort(terms.begin(), terms.end(),
                   [](const ScoreTerm& a, const ScoreTerm& b) { return a.points > b.points; });
  return terms;
}

double unticketed_points(std::span<const store::Signal> signals,
                         store::TicketCategory category,
                         const Weights& weights) {
  double points = 0;
  for (const auto& s : signals) {
    if (!s.ticket_id && store::category_of(s.kind) == category) {
      points += s.strength * weight_of(weights, s.kind);
    }
  }
  return points;
}

}  // namespace portcullis::abuse
