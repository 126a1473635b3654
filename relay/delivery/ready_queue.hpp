#pragma once
// The delivery engine's index of work, in memory: which recipients to try
// next and when. The spool is the durable record; this is rebuilt from it at
// start and kept in step by the engine.
//
// A job is one message's due recipients for one destination. Jobs that are
// not due yet wait in a min-heap by due time; due jobs wait in a ready queue
// per destination, and per tenant inside it. next() serves destinations round
// robin and, inside a destination, tenants round robin, so a tenant with a
// deep backlog to one destination delays neither other destinations nor
// other tenants' mail to the same one. A destination the engine cannot start
// a job for (at its connection limit, or backing off) is paused: it leaves
// the rotation until resumed, so next() never walks over blocked work.
//
// Every operation is O(1) or O(log n) in the number of jobs (the heap);
// nothing scans the queue. Not thread-safe: the engine's I/O thread owns it.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

namespace portcullis::relay::delivery {

struct Job {
  std::string message_id;
  std::string tenant;
  std::string destination;              // lower-case recipient domain
  std::vector<std::size_t> recipients;  // envelope indexes
  std::uint64_t epoch = 0;              // the owner's; a job of an older epoch is stale
};

class ReadyQueue {
 public:
  // Queues the job: ready at once when due <= the last advance() time, else
  // when advance() reaches due (unix seconds).
  void add(Job job, std::int64_t due);

  // Moves every job due at or before now into the ready queues.
  void advance(std::int64_t now);

  // The next ready job of an unpaused destination, round robin; nullopt when
  // none is ready.
  std::optional<Job> next();

  // A paused destination keeps its ready jobs but next() skips it.
  void pause(const std::string& destination);
  void resume(const std::string& destination);
  bool paused(const std::string& destination) const;

  // Earliest due time among jobs not ready yet.
  std::optional<std::int64_t> next_due() const;

  std::size_t ready() const { return ready_; }
  std::size_t waiting() const { return timers_.size(); }
  // Ready jobs of one destination (paused or not).
  std::size_t ready_for(const std::string& destination) const;

 private:
  struct Destination {
    std::unordered_map<std::string, std::deque<Job>> by_tenant;
    std::deque<std::string> tenants;  // tenants with ready jobs, in turn order
    std::size_t ready = 0;
    bool paused = false;
    bool in_rotation = false;
  };
  struct Timer {
    std::int64_t due;
    std::uint64_t sequence;  // FIFO among equal due times
    Job job;
    bool operator>(const Timer& other) const {
      return due != other.due ? due > other.due : sequence > other.sequence;
    }
  };

  void make_ready(Job job);
  void rotate_in(const std::string& name, Destination& destination);

  std::unordered_map<std::string, Destination> destinations_;
  std::deque<std::string> rotation_;  // destinations with ready jobs, maybe paused (skipped lazily)
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::int64_t now_ = INT64_MIN;
  std::uint64_t sequence_ = 0;
  std::size_t ready_ = 0;
};

}  // namespace portcullis::relay::delivery
