#pragma once
// A tenant's reputation from its signals: each signal's strength times the
// weight of its kind (abuse.weights), summed over abuse.score_window. The
// score explains itself term by term, so `portcullisctl reputation` can say
// which signals made it and how much each. Pure: no store, no clock.
//
// Opening tickets uses the same arithmetic per category (store::category_of):
// the signals of a category not yet on any ticket reaching
// abuse.ticket_threshold open its ticket.

#include <map>
#include <span>
#include <string>

#include "gateway/core/abuse/abuse_desk.hpp"
#include "gateway/core/store/abuse_types.hpp"

namespace portcullis::abuse {

using Weights = std::map<std::string, double>;  // SignalKind name → points per unit of strength

double weight_of(const Weights& weights, store::SignalKind kind);

// Terms of the kinds that have signals, most points first (then by kind).
std::vector<ScoreTerm> score_terms(std::span<const store::Signal> signals, const Weights& weights);

// Points of the signals of `category` that are on no ticket yet.
double unticketed_points(std::span<const store::Signal> signals,
                         store::TicketCategory category,
                         const Weights& weights);

}  // namespace portcullis::abuse
