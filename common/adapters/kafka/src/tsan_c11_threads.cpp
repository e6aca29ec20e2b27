// ThreadSanitizer builds only (LOCKSTEP_SANITIZE=thread).
//
// librdkafka creates its threads with C11 thrd_create(), and synchronises with
// mtx_*/cnd_*. GCC 12's TSan runtime intercepts the pthread_* functions but not
// glibc's C11 wrappers (which call glibc internals), so a librdkafka thread
// starts without TSan state and crashes in the first malloc. These
// definitions, linked into the executable, take precedence over glibc's and
// route through the intercepted pthread functions, so TSan sees both the
// threads and their locks. glibc implements C11 threads on the same pthread
// objects (thrd_t is a pthread_t, mtx_t/cnd_t wrap pthread mutex/condvar).
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <new>

static_assert(sizeof(thrd_t) == sizeof(pthread_t));
static_assert(sizeof(mtx_t) >= sizeof(pthread_mutex_t));
static_assert(sizeof(cnd_t) >= sizeof(pthread_cond_t));

namespace {
struct Start {
  thrd_start_t fn;
  void* arg;
};

void* trampoline(void* p) {
  const Start s = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(s.fn(s.arg)));
}

int result(int rc) {
  switch (rc) {
    case 0: return thrd_success;
    case EBUSY: return thrd_busy;
    case ETIMEDOUT: return thrd_timedout;
    case ENOMEM: return thrd_nomem;
    default: return thrd_error;
  }
}

pthread_mutex_t* pm(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* pc(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }
}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t fn, void* arg) {
  auto* s = new (std::nothrow) Start{fn, arg};
  if (!s) return thrd_nomem;
  pthread_t t;
  const int rc = pthread_create(&t, nullptr, trampoline, s);
  if (rc != 0) {
    delete s;
    return result(rc);
  }
  *thr = t;
  return thrd_success;
}

int thrd_join(thrd_t thr, int* res) {
  void* r = nullptr;
  const int rc = pthread_join(thr, &r);
  if (rc == 0 && res) *res = static_cast<int>(reinterpret_cast<intptr_t>(r));
  return result(rc);
}

int thrd_detach(thrd_t thr) { return result(pthread_detach(thr)); }

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(pm(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return result(rc);
}
int mtx_lock(mtx_t* m) { return result(pthread_mutex_lock(pm(m))); }
int mtx_trylock(mtx_t* m) { return result(pthread_mutex_trylock(pm(m))); }
int mtx_timedlock(mtx_t* m, const struct timespec* ts) { return result(pthread_mutex_timedlock(pm(m), ts)); }
int mtx_unlock(mtx_t* m) { return result(pthread_mutex_unlock(pm(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(pm(m)); }

int cnd_init(cnd_t* c) { return result(pthread_cond_init(pc(c), nullptr)); }
int cnd_signal(cnd_t* c) { return result(pthread_cond_signal(pc(c))); }
int cnd_broadcast(cnd_t* c) { return result(pthread_cond_broadcast(pc(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) { return result(pthread_cond_wait(pc(c), pm(m))); }
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* ts) {
  return result(pthread_cond_timedwait(pc(c), pm(m), ts));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(pc(c)); }

}  // extern "C"
