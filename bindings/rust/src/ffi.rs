//! libzcp's C ABI (include/zcp/zcp.h), declared by hand: the structs are `#[repr(C)]` copies
//! of the header's, the functions its prototypes. Private to the crate; the safe API is in
//! lib.rs. A layout test (tests/ffi_layout.rs) checks the sizes against the header's.
#![allow(non_camel_case_types, dead_code)]

use std::os::raw::{c_char, c_int, c_void};

pub type zcp_status = c_int;
pub const ZCP_OK: zcp_status = 0;
pub const ZCP_EMPTY: zcp_status = 1;
pub const ZCP_ERR_DISCONNECTED: zcp_status = -5;

#[repr(C)]
pub struct zcp_runtime {
    _private: [u8; 0],
}
#[repr(C)]
pub struct zcp_publisher {
    _private: [u8; 0],
}
#[repr(C)]
pub struct zcp_subscriber {
    _private: [u8; 0],
}

#[repr(C)]
pub struct zcp_runtime_options {
    pub struct_size: u32,
    pub name: *const c_char,
    pub instance: *const c_char,
    pub monitored: bool,
    pub reconnect: bool,
    pub request_timeout_ms: u32,
}

#[repr(C)]
pub struct zcp_publisher_options {
    pub struct_size: u32,
    pub history_depth: u32,
    pub max_loans: u32,
    pub max_payload: u32,
    pub loan_wait_ns: i64,
    pub publish_timeout_ns: i64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct zcp_loan {
    pub data: *mut c_void,
    pub size: usize,
    pub capacity: usize,
    pub handle: u64,
}

#[repr(C)]
pub struct zcp_subscriber_options {
    pub struct_size: u32,
    pub queue_capacity: u32,
    pub policy: c_int,
    pub history_request: u32,
    pub max_held: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct zcp_sample {
    pub data: *const c_void,
    pub size: usize,
    pub sequence: u64,
    pub timestamp_ns: u64,
    pub publisher_id: u32,
    pub handle: u64,
}

extern "C" {
    pub fn zcp_abi_version() -> c_int;
    pub fn zcp_version() -> *const c_char;
    pub fn zcp_status_name(status: zcp_status) -> *const c_char;
    pub fn zcp_last_error() -> *const c_char;

    pub fn zcp_runtime_options_init(options: *mut zcp_runtime_options);
    pub fn zcp_runtime_connect(
        options: *const zcp_runtime_options,
        out: *mut *mut zcp_runtime,
    ) -> zcp_status;
    pub fn zcp_runtime_close(runtime: *mut zcp_runtime);
    pub fn zcp_runtime_connected(runtime: *const zcp_runtime) -> bool;
    pub fn zcp_runtime_name(runtime: *const zcp_runtime) -> *const c_char;
    pub fn zcp_runtime_instance(runtime: *const zcp_runtime) -> *const c_char;
    pub fn zcp_runtime_reconnects(runtime: *const zcp_runtime) -> u64;

    pub fn zcp_publisher_options_init(options: *mut zcp_publisher_options);
    pub fn zcp_publisher_create(
        runtime: *mut zcp_runtime,
        topic: *const c_char,
        options: *const zcp_publisher_options,
        out: *mut *mut zcp_publisher,
    ) -> zcp_status;
    pub fn zcp_publisher_destroy(publisher: *mut zcp_publisher);
    pub fn zcp_publisher_loan(publisher: *mut zcp_publisher, size: usize, out: *mut zcp_loan)
        -> zcp_status;
    pub fn zcp_publisher_publish(publisher: *mut zcp_publisher, loan: *mut zcp_loan) -> zcp_status;
    pub fn zcp_publisher_drop(publisher: *mut zcp_publisher, loan: *mut zcp_loan) -> zcp_status;
    pub fn zcp_publisher_publish_copy(
        publisher: *mut zcp_publisher,
        data: *const c_void,
        size: usize,
    ) -> zcp_status;
    pub fn zcp_publisher_flush(publisher: *mut zcp_publisher, timeout_ns: i64) -> zcp_status;
    pub fn zcp_publisher_id(publisher: *const zcp_publisher) -> u32;
    pub fn zcp_publisher_subscriber_count(publisher: *const zcp_publisher) -> u32;
    pub fn zcp_publisher_max_payload(publisher: *const zcp_publisher) -> usize;
    pub fn zcp_publisher_published(publisher: *const zcp_publisher) -> u64;
    pub fn zcp_publisher_lost(publisher: *const zcp_publisher) -> u64;
    pub fn zcp_publisher_loans_outstanding(publisher: *const zcp_publisher) -> u32;

    pub fn zcp_subscriber_options_init(options: *mut zcp_subscriber_options);
    pub fn zcp_subscriber_create(
        runtime: *mut zcp_runtime,
        topic: *const c_char,
        options: *const zcp_subscriber_options,
        out: *mut *mut zcp_subscriber,
    ) -> zcp_status;
    pub fn zcp_subscriber_destroy(subscriber: *mut zcp_subscriber);
    pub fn zcp_subscriber_take(subscriber: *mut zcp_subscriber, out: *mut zcp_sample) -> zcp_status;
    pub fn zcp_subscriber_release(subscriber: *mut zcp_subscriber, sample: *mut zcp_sample)
        -> zcp_status;
    pub fn zcp_subscriber_wait(subscriber: *mut zcp_subscriber, timeout_ns: i64) -> zcp_status;
    pub fn zcp_subscriber_has_data(subscriber: *const zcp_subscriber) -> bool;
    pub fn zcp_subscriber_fd(subscriber: *const zcp_subscriber) -> c_int;
    pub fn zcp_subscriber_prepare_wait(subscriber: *mut zcp_subscriber) -> bool;
    pub fn zcp_subscriber_finish_wait(subscriber: *mut zcp_subscriber);
    pub fn zcp_subscriber_id(subscriber: *const zcp_subscriber) -> u32;
    pub fn zcp_subscriber_dropped(subscriber: *const zcp_subscriber) -> u64;
    pub fn zcp_subscriber_lost(subscriber: *const zcp_subscriber) -> u64;
    pub fn zcp_subscriber_rebinds(subscriber: *const zcp_subscriber) -> u64;
    pub fn zcp_subscriber_held(subscriber: *const zcp_subscriber) -> u32;
    pub fn zcp_subscriber_max_held(subscriber: *const zcp_subscriber) -> u32;
    pub fn zcp_subscriber_connected(subscriber: *const zcp_subscriber) -> bool;
}
