// Where an event goes once an executor or a delivery report is done with it.
#pragma once

#include "schedule/scheduler.hpp"
#include "commit/offset_book.hpp"

namespace lockstep::runtime {

class Completion {
 public:
  Completion(OffsetBook& book, KeyScheduler& sched) : book_(book), sched_(sched) {}

  // The event has its outcome: its offset may be committed, its key moves on.
  void complete(WorkPtr w) {
    book_.complete(*w);
    sched_.done(std::move(w));
  }
  // The event goes again after `delay`, unless its partition was revoked
  // meanwhile: then it is released, and its new owner re-reads it.
  void retry_or_release(WorkPtr w, milliseconds delay) {
    if (book_.current(*w))
      sched_.retry_later(std::move(w), delay);
    else
      sched_.done(std::move(w));
  }

 private:
  OffsetBook& book_;
  KeyScheduler& sched_;
};

}  // namespace lockstep::runtime
