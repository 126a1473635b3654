#include "relay/delivery/ready_queue.hpp"

#include <algorithm>
#include <utility>

namespace portcullis::relay::delivery {

void ReadyQueue::add(Job job, std::int64_t due) {
  if (due <= now_) {
    make_ready(std::move(job));
    return;
  }
  timers_.push(Timer{due, sequence_++, std::move(job)});
}

void ReadyQueue::advance(std::int64_t now) {
  now_ = std::max(now_, now);
  while (!timers_.empty() && timers_.top().due <= now_) {
    // priority_queue::top is const; the job is moved out just before pop.
    Job job = std::move(const_cast<Timer&>(timers_.top()).job);
    timers_.pop();
    make_ready(std::move(job));
  }
}

void ReadyQueue::make_ready(Job job) {
  const std::string name = job.destination;
  auto& destination = destinations_[name];
  auto& jobs = destination.by_tenant[job.tenant];
  if (jobs.empty()) {
    destination.tenants.push_back(job.tenant);
  }
  jobs.push_back(std::move(job));
  ++destination.ready;
  ++ready_;
  rotate_in(name, destination);
}

void ReadyQueue::rotate_in(const std::string& name, Destination& destination) {
  if (!destination.paused && !destination.in_rotation && destination.ready > 0) {
    destination.in_rotation = true;
    rotation_.push_back(name);
  }
}

std::optional<Job> ReadyQueue::next() {
  while (!rotation_.empty()) {
    std::string name = std::move(rotation_.front());
    rotation_.pop_front();
    const auto it = destinations_.find(name);
    if (it == destinations_.end()) {
      continue;
    }
    Destination& destination = it->second;
    destination.in_rotation = false;
    if (destination.paused || destination.ready == 0) {
      continue;  // dropped from the rotation; resume() or make_ready() puts it back
    }
    std::string tenant = std::move(destination.tenants.front());
    destination.tenants.pop_front();
    auto jobs = destination.by_tenant.find(tenant);
    Job job = std::move(jobs->second.front());
    jobs->second.pop_front();
    if (jobs->second.empty()) {
      destination.by_tenant.erase(jobs);
    } else {
      destination.tenants.push_back(std::move(tenant));
    }
    --destination.ready;
    --ready_;
    if (destination.ready > 0) {
      destination.in_rotation = true;
      rotation_.push_back(std::move(name));
    } else if (!destination.paused) {
      destinations_.erase(it);
    }
    return job;
  }
  return std::nullopt;
}

void ReadyQueue::pause(const std::string& destination) {
  destinations_[destination].paused = true;
}

void ReadyQueue::resume(const std::string& name) {
  const auto it = destinations_.find(name);
  if (it == destinations_.end()) {
    return;
  }
  it->second.paused = false;
  if (it->second.ready == 0 && !it->second.in_rotation) {
    destinations_.erase(it);
    return;
  }
  rotate_in(name, it->second);
}

bool ReadyQueue::paused(const std::string& destination) const {
  const auto it = destinations_.find(destination);
  return it != destinations_.end() && it->second.paused;
}

std::optional<std::int64_t> ReadyQueue::next_due() const {
  if (timers_.empty()) {
    return std::nullopt;
  }
  return timers_.top().due;
}

std::size_t ReadyQueue::ready_for(const std::string& destination) const {
  const auto it = destinations_.find(destination);
  return it == destinations_.end() ? 0 : it->second.ready;
}

}  // namespace portcullis::relay::delivery
