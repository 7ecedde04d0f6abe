/* zerocp C ABI: the client library (libzcp) for C and for other languages' bindings.
 *
 *   zcp_runtime* rt;
 *   if (zcp_runtime_connect(NULL, &rt) != ZCP_OK) { fprintf(stderr, "%s\n", zcp_last_error()); }
 *   zcp_publisher* pub;
 *   zcp_publisher_create(rt, "md/feed/ticks", NULL, &pub);
 *   zcp_loan loan;
 *   if (zcp_publisher_loan(pub, 64, &loan) == ZCP_OK) {
 *     memcpy(loan.data, tick, 64);
 *     zcp_publisher_publish(pub, &loan);      // consumes the loan
 *   }
 *
 * Plain C11: compiles with `cc -std=c11 -Wall -Wextra -Werror`, links with `-lzcp`
 * (pkg-config zerocp-c, or CMake's zerocp::zcp_c). docs/c-api.md has complete programs.
 *
 * Errors. Every call that can fail returns a zcp_status: ZCP_OK (0), a positive "nothing
 * now" (ZCP_EMPTY), or a negative error. After an error, zcp_last_error() returns the
 * library's message for it (this thread's last failing call), e.g. "loan(9000):
 * payload 9000 exceeds the publisher's chunk size 4096". Nothing here aborts on bad input:
 * NULL handles and pointers, sizes out of range, a loan or sample released twice or through
 * another publisher or subscriber, all return ZCP_ERR_INVALID_ARGUMENT or
 * ZCP_ERR_INVALID_HANDLE. Using a handle after its destroy/close call is undefined (as
 * free() is): set it to NULL.
 *
 * Ownership and threads (as in the C++ API, docs/client.md): a runtime may be shared by
 * threads; a publisher with its loans, and a subscriber with its samples, are used by one
 * thread at a time. Destroy publishers and subscribers before their runtime; destroying a
 * subscriber releases the samples it still holds (their data pointers become invalid),
 * destroying a publisher drops its unpublished loans.
 *
 * ABI stability: only zcp_* symbols are exported for C. Option structs begin with
 * struct_size, set by their zcp_*_options_init() function: a program built against an older
 * header keeps working with a newer library, which reads only the fields that size covers.
 * ZCP_ABI_VERSION changes only on an incompatible change; zcp_abi_version() returns the
 * library's. */
#ifndef ZCP_ZCP_H
#define ZCP_ZCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ZCP_API __attribute__((visibility("default")))
#else
#define ZCP_API
#endif

#define ZCP_ABI_VERSION 1

/* ---- Status codes and errors ---------------------------------------------------------- */

typedef enum zcp_status {
  ZCP_OK = 0,
  ZCP_EMPTY = 1, /* take/receive: nothing queued; wait: nothing arrived before the timeout */

  ZCP_ERR_INVALID_ARGUMENT = -1,   /* a NULL handle or pointer, a bad name, size or option */
  ZCP_ERR_DAEMON_UNAVAILABLE = -2, /* no diroute answers on the instance's socket */
  ZCP_ERR_VERSION_MISMATCH = -3,   /* daemon and library speak different versions */
  ZCP_ERR_REJECTED = -4,           /* the daemon refused the request (the message says why) */
  ZCP_ERR_DISCONNECTED = -5,       /* the daemon went away; calls fail until it is back */
  ZCP_ERR_TIMEOUT = -6,            /* no reply, or flush not done, within the timeout */
  ZCP_ERR_PROTOCOL = -7,           /* a malformed reply from the daemon */
  ZCP_ERR_SYSTEM = -8,             /* a system call failed; the message names it and errno */
  ZCP_ERR_POOL_EXHAUSTED = -9,     /* loan: no free chunk arrived within loan_wait */
  ZCP_ERR_WOULD_BLOCK = -10,       /* publish: the publish ring is full (router behind) */
  ZCP_ERR_TOO_LARGE = -11,         /* loan/publish: more than the publisher's chunk size */
  ZCP_ERR_TOO_MANY_LOANS = -12,    /* loan: max_loans loans are outstanding */
  ZCP_ERR_TOO_MANY_HELD = -13,     /* take: max_held samples are held; release one first */
  ZCP_ERR_INVALID_HANDLE = -14,    /* a loan or sample not held here (released twice, stale) */
  ZCP_ERR_NO_MEMORY = -15          /* the library could not allocate */
} zcp_status;

/* The library's ABI version (ZCP_ABI_VERSION of the header it was built with). */
ZCP_API int zcp_abi_version(void);
/* The library's version, "MAJOR.MINOR.PATCH". */
ZCP_API const char* zcp_version(void);
/* "ZCP_OK", "ZCP_ERR_TIMEOUT", ...; "ZCP_UNKNOWN" for any other value. */
ZCP_API const char* zcp_status_name(zcp_status status);
/* The message of this thread's last failed call ("" if none yet). Valid until this
 * thread's next failing call. */
ZCP_API const char* zcp_last_error(void);
/* The status of this thread's last failed call (ZCP_OK if none yet). */
ZCP_API zcp_status zcp_last_status(void);

/* ---- Runtime: the process's connection to one diroute instance --------------------------- */

typedef struct zcp_runtime zcp_runtime;

typedef struct zcp_runtime_options {
  uint32_t struct_size;        /* sizeof(zcp_runtime_options); set by _init */
  const char* name;            /* unique per live process; NULL or "": "<program>-<pid>" */
  const char* instance;        /* NULL or "": $ZCP_INSTANCE, else "default" */
  bool monitored;              /* heartbeat-monitored (default true) */
  bool reconnect;              /* follow a restarted diroute (default true) */
  uint32_t request_timeout_ms; /* control requests (default 2000) */
} zcp_runtime_options;

ZCP_API void zcp_runtime_options_init(zcp_runtime_options* options);
/* options may be NULL (defaults). On success *out is the runtime; on failure *out is NULL. */
ZCP_API zcp_status zcp_runtime_connect(const zcp_runtime_options* options, zcp_runtime** out);
/* Unregisters and frees. NULL is ignored. */
ZCP_API void zcp_runtime_close(zcp_runtime* runtime);
ZCP_API bool zcp_runtime_connected(const zcp_runtime* runtime);
ZCP_API const char* zcp_runtime_name(const zcp_runtime* runtime);
ZCP_API const char* zcp_runtime_instance(const zcp_runtime* runtime);
ZCP_API uint64_t zcp_runtime_reconnects(const zcp_runtime* runtime);

/* ---- Publisher -------------------------------------------------------------------------- */

typedef struct zcp_publisher zcp_publisher;

typedef struct zcp_publisher_options {
  uint32_t struct_size;       /* sizeof(zcp_publisher_options); set by _init */
  uint32_t history_depth;     /* last messages kept for late subscribers (default 0) */
  uint32_t max_loans;         /* chunks held at once; 0: the daemon's default */
  uint32_t max_payload;       /* largest loan; picks the chunk size; 0: the daemon's default */
  int64_t loan_wait_ns;       /* loan on an empty loan ring waits this long (default 5 ms) */
  int64_t publish_timeout_ns; /* publish on a full publish ring waits this long (default 0) */
} zcp_publisher_options;

/* A writable chunk of shared memory. data is 64-byte aligned; size bytes will be published
 * (set it to anything up to capacity before publishing); handle identifies the loan. */
typedef struct zcp_loan {
  void* data;
  size_t size;
  size_t capacity;
  uint64_t handle;
} zcp_loan;

ZCP_API void zcp_publisher_options_init(zcp_publisher_options* options);
/* topic: "service/instance/event". options may be NULL. */
ZCP_API zcp_status zcp_publisher_create(zcp_runtime* runtime, const char* topic,
                                        const zcp_publisher_options* options, zcp_publisher** out);
/* Drops unpublished loans, lets the router take what is published (up to 100 ms), frees.
 * NULL is ignored. */
ZCP_API void zcp_publisher_destroy(zcp_publisher* publisher);
/* A chunk of size bytes (at most the publisher's max payload). ZCP_ERR_TOO_LARGE,
 * ZCP_ERR_TOO_MANY_LOANS, ZCP_ERR_POOL_EXHAUSTED, ZCP_ERR_DISCONNECTED. */
ZCP_API zcp_status zcp_publisher_loan(zcp_publisher* publisher, size_t size, zcp_loan* out);
/* Publishes loan->size bytes of the loan and clears *loan. On failure the loan stays valid
 * (retry or drop it). ZCP_ERR_WOULD_BLOCK, ZCP_ERR_TOO_LARGE (size > capacity),
 * ZCP_ERR_INVALID_HANDLE, ZCP_ERR_DISCONNECTED. */
ZCP_API zcp_status zcp_publisher_publish(zcp_publisher* publisher, zcp_loan* loan);
/* Gives an unpublished loan back and clears *loan. */
ZCP_API zcp_status zcp_publisher_drop(zcp_publisher* publisher, zcp_loan* loan);
/* loan(size) + copy + publish. */
ZCP_API zcp_status zcp_publisher_publish_copy(zcp_publisher* publisher, const void* data,
                                              size_t size);
/* Waits until every published message is routed to every subscriber. ZCP_ERR_TIMEOUT. */
ZCP_API zcp_status zcp_publisher_flush(zcp_publisher* publisher, int64_t timeout_ns);
ZCP_API uint32_t zcp_publisher_id(const zcp_publisher* publisher);
ZCP_API uint32_t zcp_publisher_subscriber_count(const zcp_publisher* publisher);
ZCP_API size_t zcp_publisher_max_payload(const zcp_publisher* publisher);
ZCP_API uint32_t zcp_publisher_max_loans(const zcp_publisher* publisher);
ZCP_API uint32_t zcp_publisher_history_depth(const zcp_publisher* publisher);
ZCP_API uint32_t zcp_publisher_loans_outstanding(const zcp_publisher* publisher);
ZCP_API uint64_t zcp_publisher_published(const zcp_publisher* publisher); /* last sequence */
ZCP_API uint64_t zcp_publisher_lost(const zcp_publisher* publisher);      /* lost to restarts */
ZCP_API bool zcp_publisher_connected(const zcp_publisher* publisher);

/* ---- Subscriber ------------------------------------------------------------------------- */

typedef struct zcp_subscriber zcp_subscriber;

typedef enum zcp_queue_policy {
  ZCP_DROP_OLDEST = 0,    /* a full queue evicts its oldest message (default) */
  ZCP_DROP_NEWEST = 1,    /* a full queue refuses the new message */
  ZCP_BLOCK_PUBLISHER = 2 /* a full queue holds the publishers back (lossless) */
} zcp_queue_policy;

typedef struct zcp_subscriber_options {
  uint32_t struct_size;     /* sizeof(zcp_subscriber_options); set by _init */
  uint32_t queue_capacity;  /* 0: the daemon's default */
  zcp_queue_policy policy;  /* default ZCP_DROP_OLDEST */
  uint32_t history_request; /* past messages wanted first */
  uint32_t max_held;        /* samples held at once; 0: the daemon's default (16) */
} zcp_subscriber_options;

/* A received message, read in place: data stays valid until the sample is released. */
typedef struct zcp_sample {
  const void* data;
  size_t size;
  uint64_t sequence;     /* per publisher, from 1; a gap means drops */
  uint64_t timestamp_ns; /* CLOCK_MONOTONIC at publish */
  uint32_t publisher_id;
  uint64_t handle;
} zcp_sample;

ZCP_API void zcp_subscriber_options_init(zcp_subscriber_options* options);
ZCP_API zcp_status zcp_subscriber_create(zcp_runtime* runtime, const char* topic,
                                         const zcp_subscriber_options* options,
                                         zcp_subscriber** out);
/* Releases held samples, frees. NULL is ignored. */
ZCP_API void zcp_subscriber_destroy(zcp_subscriber* subscriber);
/* ZCP_OK (*out filled), ZCP_EMPTY (nothing queued), ZCP_ERR_TOO_MANY_HELD,
 * ZCP_ERR_DISCONNECTED (nothing queued and the daemon is gone). */
ZCP_API zcp_status zcp_subscriber_take(zcp_subscriber* subscriber, zcp_sample* out);
/* Gives the sample's chunk back and clears *sample. ZCP_ERR_INVALID_HANDLE if it is not
 * held by this subscriber (released already). */
ZCP_API zcp_status zcp_subscriber_release(zcp_subscriber* subscriber, zcp_sample* sample);
/* Sleeps on the eventfd until a message is queued (ZCP_OK) or timeout_ns passes
 * (ZCP_EMPTY; also on a signal). ZCP_ERR_DISCONNECTED at once while no daemon serves. */
ZCP_API zcp_status zcp_subscriber_wait(zcp_subscriber* subscriber, int64_t timeout_ns);
ZCP_API bool zcp_subscriber_has_data(const zcp_subscriber* subscriber);
/* The eventfd, for the caller's own poll/epoll/event loop:
 *   if (zcp_subscriber_prepare_wait(s)) { poll(fd...); zcp_subscriber_finish_wait(s); }
 *   while (zcp_subscriber_take(s, &sample) == ZCP_OK) ...
 * prepare_wait() announces the sleep and re-checks the queue: false means data is there
 * (do not sleep). The descriptor changes after a daemon restart: re-register it when
 * zcp_subscriber_rebinds() changes. */
ZCP_API int zcp_subscriber_fd(const zcp_subscriber* subscriber);
ZCP_API bool zcp_subscriber_prepare_wait(zcp_subscriber* subscriber);
ZCP_API void zcp_subscriber_finish_wait(zcp_subscriber* subscriber);
ZCP_API uint32_t zcp_subscriber_id(const zcp_subscriber* subscriber);
ZCP_API uint64_t zcp_subscriber_dropped(const zcp_subscriber* subscriber);
ZCP_API uint64_t zcp_subscriber_rejected(const zcp_subscriber* subscriber);
ZCP_API uint64_t zcp_subscriber_lost(const zcp_subscriber* subscriber);
ZCP_API uint64_t zcp_subscriber_rebinds(const zcp_subscriber* subscriber);
ZCP_API uint32_t zcp_subscriber_held(const zcp_subscriber* subscriber);
ZCP_API uint32_t zcp_subscriber_max_held(const zcp_subscriber* subscriber);
ZCP_API uint32_t zcp_subscriber_queue_capacity(const zcp_subscriber* subscriber);
ZCP_API bool zcp_subscriber_connected(const zcp_subscriber* subscriber);

/* ---- The market-data broadcast API (seed 004; C++: zcp/ipc/broadcast_hub.hpp) ---------- */

#define ZCP_BLOCK_SIZE 8192
#define ZCP_BLOCK_HEADER_SIZE 32
#define ZCP_BLOCK_DATA_SIZE (ZCP_BLOCK_SIZE - ZCP_BLOCK_HEADER_SIZE)
#define ZCP_BLOCK_FLAG_BATCH_FIRST 1u
#define ZCP_BLOCK_FLAG_BATCH_LAST 2u

typedef enum zcp_market_data_type {
  ZCP_MD_TICK = 0,
  ZCP_MD_BAR = 1,
  ZCP_MD_ORDER_BOOK = 2,
  ZCP_MD_TRADE = 3,
  ZCP_MD_QUOTE = 4,
  ZCP_MD_SNAPSHOT = 5,
  ZCP_MD_CUSTOM = 255
} zcp_market_data_type;

/* ZeroCopyMarketBlock: one 8 KiB message, the same bytes as the C++ struct. */
typedef struct zcp_market_block {
  uint64_t sequence_number;
  uint64_t timestamp_ns;
  uint64_t record_count;
  uint8_t data_type; /* zcp_market_data_type */
  uint8_t flags;
  uint16_t reserved;
  uint32_t data_size;
  uint8_t data[ZCP_BLOCK_DATA_SIZE];
} zcp_market_block;

typedef enum zcp_broadcast_preset {
  ZCP_PRESET_DEFAULT = 0,
  ZCP_PRESET_HIGH_PERFORMANCE = 1,
  ZCP_PRESET_LOW_LATENCY = 2,
  ZCP_PRESET_MASSIVE_SCALE = 3
} zcp_broadcast_preset;

/* BroadcastConfig. Strings are copied by the create calls. */
typedef struct zcp_broadcast_config {
  uint32_t struct_size;
  const char* service_name;  /* "md" */
  const char* instance_name; /* "broadcast" */
  uint32_t queue_capacity;
  zcp_queue_policy queue_policy;
  uint32_t max_held;
  int64_t wait_spin_ns;
  uint32_t history_size;
  uint32_t max_loans;
  int64_t loan_wait_ns;
  int64_t publish_timeout_ns;
} zcp_broadcast_config;

typedef struct zcp_broadcast_stats {
  uint64_t blocks_sent, records_sent, bytes_sent;
  uint64_t failed_loans, blocked_publishes, failed_publishes, rejected_calls;
  uint32_t subscriber_count;
} zcp_broadcast_stats;

typedef struct zcp_receive_stats {
  uint64_t blocks_received, records_received, bytes_received;
  uint64_t sequence_gaps, gap_events, queue_drops, malformed_blocks, held_limit_hits;
} zcp_receive_stats;

typedef struct zcp_block_loan {
  zcp_market_block* block;
  uint64_t handle;
} zcp_block_loan;

typedef struct zcp_block {
  const zcp_market_block* block;
  uint64_t sequence; /* the zerocp message header's, per broadcaster */
  uint32_t publisher_id;
  uint64_t handle;
} zcp_block;

typedef struct zcp_broadcaster zcp_broadcaster;
typedef struct zcp_data_subscriber zcp_data_subscriber;

/* Fills *config with a preset (docs/broadcast.md has the values). */
ZCP_API zcp_status zcp_broadcast_config_preset(zcp_broadcast_preset preset,
                                               zcp_broadcast_config* config);
/* The process-wide runtime the broadcast API uses (DataBroadcaster::initialize_runtime). */
ZCP_API zcp_status zcp_broadcast_initialize_runtime(const char* app_name);
ZCP_API void zcp_broadcast_shutdown_runtime(void);

ZCP_API zcp_status zcp_broadcaster_create(const zcp_broadcast_config* config,
                                          const char* stream_name, zcp_broadcaster** out);
ZCP_API void zcp_broadcaster_destroy(zcp_broadcaster* broadcaster);
/* One block of data_size bytes (<= ZCP_BLOCK_DATA_SIZE) holding record_count records. */
ZCP_API zcp_status zcp_broadcaster_broadcast(zcp_broadcaster* broadcaster, const void* data,
                                             size_t data_size, uint64_t record_count,
                                             zcp_market_data_type type);
/* record_count records of data_size / record_count bytes, over as many blocks as needed;
 * *blocks_sent (may be NULL) says how many went out before a failure. */
ZCP_API zcp_status zcp_broadcaster_broadcast_batch(zcp_broadcaster* broadcaster, const void* data,
                                                   size_t data_size, uint64_t record_count,
                                                   zcp_market_data_type type, size_t* blocks_sent);
/* Zero copy: loan a block, fill block->data and the header's record_count, data_type,
 * data_size (and flags), publish it (sequence_number and timestamp_ns are stamped). */
ZCP_API zcp_status zcp_broadcaster_loan_block(zcp_broadcaster* broadcaster, zcp_block_loan* out);
ZCP_API zcp_status zcp_broadcaster_publish_block(zcp_broadcaster* broadcaster,
                                                 zcp_block_loan* loan);
ZCP_API zcp_status zcp_broadcaster_drop_block(zcp_broadcaster* broadcaster, zcp_block_loan* loan);
ZCP_API zcp_status zcp_broadcaster_stats(const zcp_broadcaster* broadcaster,
                                         zcp_broadcast_stats* out);

ZCP_API zcp_status zcp_data_subscriber_create(const zcp_broadcast_config* config,
                                              const char* stream_name, zcp_data_subscriber** out);
ZCP_API void zcp_data_subscriber_destroy(zcp_data_subscriber* subscriber);
/* ZCP_OK (*out filled), ZCP_EMPTY (nothing queued, or max_held blocks held). */
ZCP_API zcp_status zcp_data_subscriber_receive_block(zcp_data_subscriber* subscriber,
                                                     zcp_block* out);
ZCP_API zcp_status zcp_data_subscriber_release(zcp_data_subscriber* subscriber, zcp_block* block);
/* ZCP_OK when a block is queued, ZCP_EMPTY after timeout_ns (or a signal). */
ZCP_API zcp_status zcp_data_subscriber_wait(zcp_data_subscriber* subscriber, int64_t timeout_ns);
ZCP_API int zcp_data_subscriber_fd(const zcp_data_subscriber* subscriber);
ZCP_API zcp_status zcp_data_subscriber_stats(const zcp_data_subscriber* subscriber,
                                             zcp_receive_stats* out);

#ifdef __cplusplus
}
#endif

#endif /* ZCP_ZCP_H */
