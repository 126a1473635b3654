#pragma once
// Blocking or CPU-heavy work (DKIM signing, a message read from the spool)
// leaves the I/O thread: offload() runs f() on a thread pool and resumes the
// calling coroutine on its own executor with the result. A plain handler hop,
// not a co_spawn of a lambda coroutine: GCC 12 mishandles those captures.

#include <memory>
#include <type_traits>
#include <utility>

#include "gateway/core/asio.hpp"

namespace portcullis {

template <class F>
asio::awaitable<std::invoke_result_t<F&>> offload(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
      [&pool, executor](auto handler, F work) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto guard = asio::make_work_guard(executor);
        asio::post(pool, [shared, executor, guard, work = std::move(work)]() mutable {
          R result = work();
          asio::post(executor, [shared, result = std::move(result)]() mutable {
            std::move (*shared)(std::move(result));
          });
          guard.reset();
        });
      },
      asio::use_awaitable, std::move(f));
}

}  // namespace portcullis
