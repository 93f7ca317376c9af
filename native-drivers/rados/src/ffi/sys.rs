//! The C declarations of librados (`<rados/librados.h>`, Ceph 16) that the driver calls: the
//! cluster handle, the I/O context, AIO completions, and compound read and write operations with
//! their omap steps. Only what the driver uses is declared; the types and constants are spelled
//! as the header spells them.

#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_long, c_uchar, c_void};

pub type rados_t = *mut c_void;
pub type rados_ioctx_t = *mut c_void;
pub type rados_completion_t = *mut c_void;
pub type rados_write_op_t = *mut c_void;
pub type rados_read_op_t = *mut c_void;
pub type rados_omap_iter_t = *mut c_void;
pub type time_t = c_long;

/// The completion callback: called once, on a librados thread, when the operation completes.
pub type rados_callback_t = Option<unsafe extern "C" fn(cb: rados_completion_t, arg: *mut c_void)>;

/// `rados_write_op_create`: fail if the object exists.
pub const LIBRADOS_CREATE_EXCLUSIVE: c_int = 1;

/// Omap comparison operators (`rados_write_op_omap_cmp2`).
pub const LIBRADOS_CMPXATTR_OP_EQ: u8 = 1;
pub const LIBRADOS_CMPXATTR_OP_LT: u8 = 5;

/// Operation flag: send even when the cluster or pool is marked full (deletes then succeed).
pub const LIBRADOS_OPERATION_FULL_TRY: c_int = 64;

#[link(name = "rados")]
unsafe extern "C" {
    pub fn rados_create(cluster: *mut rados_t, id: *const c_char) -> c_int;
    pub fn rados_create2(
        cluster: *mut rados_t,
        clustername: *const c_char,
        name: *const c_char,
        flags: u64,
    ) -> c_int;
    pub fn rados_conf_read_file(cluster: rados_t, path: *const c_char) -> c_int;
    pub fn rados_conf_set(cluster: rados_t, option: *const c_char, value: *const c_char) -> c_int;
    pub fn rados_conf_get(
        cluster: rados_t,
        option: *const c_char,
        buf: *mut c_char,
        len: usize,
    ) -> c_int;
    pub fn rados_connect(cluster: rados_t) -> c_int;
    pub fn rados_shutdown(cluster: rados_t);
    pub fn rados_cluster_fsid(cluster: rados_t, buf: *mut c_char, len: usize) -> c_int;

    pub fn rados_ioctx_create(
        cluster: rados_t,
        pool_name: *const c_char,
        ioctx: *mut rados_ioctx_t,
    ) -> c_int;
    pub fn rados_ioctx_destroy(io: rados_ioctx_t);
    pub fn rados_ioctx_set_namespace(io: rados_ioctx_t, nspace: *const c_char);
    pub fn rados_ioctx_get_id(io: rados_ioctx_t) -> i64;

    pub fn rados_aio_create_completion2(
        cb_arg: *mut c_void,
        cb_complete: rados_callback_t,
        pc: *mut rados_completion_t,
    ) -> c_int;
    pub fn rados_aio_release(c: rados_completion_t);
    pub fn rados_aio_get_return_value(c: rados_completion_t) -> c_int;
    pub fn rados_aio_get_version(c: rados_completion_t) -> u64;
    pub fn rados_aio_read(
        io: rados_ioctx_t,
        oid: *const c_char,
        completion: rados_completion_t,
        buf: *mut c_char,
        len: usize,
        off: u64,
    ) -> c_int;

    pub fn rados_create_write_op() -> rados_write_op_t;
    pub fn rados_release_write_op(op: rados_write_op_t);
    pub fn rados_write_op_create(op: rados_write_op_t, exclusive: c_int, category: *const c_char);
    pub fn rados_write_op_assert_version(op: rados_write_op_t, ver: u64);
    pub fn rados_write_op_omap_cmp2(
        op: rados_write_op_t,
        key: *const c_char,
        comparison_operator: u8,
        val: *const c_char,
        key_len: usize,
        val_len: usize,
        prval: *mut c_int,
    );
    pub fn rados_write_op_omap_set2(
        op: rados_write_op_t,
        keys: *const *const c_char,
        vals: *const *const c_char,
        key_lens: *const usize,
        val_lens: *const usize,
        num: usize,
    );
    pub fn rados_write_op_omap_rm_keys2(
        op: rados_write_op_t,
        keys: *const *const c_char,
        key_lens: *const usize,
        keys_len: usize,
    );
    pub fn rados_write_op_write(op: rados_write_op_t, buffer: *const c_char, len: usize, off: u64);
    pub fn rados_write_op_write_full(op: rados_write_op_t, buffer: *const c_char, len: usize);
    pub fn rados_write_op_remove(op: rados_write_op_t);
    pub fn rados_aio_write_op_operate(
        op: rados_write_op_t,
        io: rados_ioctx_t,
        completion: rados_completion_t,
        oid: *const c_char,
        mtime: *mut time_t,
        flags: c_int,
    ) -> c_int;

    pub fn rados_create_read_op() -> rados_read_op_t;
    pub fn rados_release_read_op(op: rados_read_op_t);
    pub fn rados_read_op_omap_get_vals2(
        op: rados_read_op_t,
        start_after: *const c_char,
        filter_prefix: *const c_char,
        max_return: u64,
        iter: *mut rados_omap_iter_t,
        pmore: *mut c_uchar,
        prval: *mut c_int,
    );
    pub fn rados_read_op_omap_get_vals_by_keys2(
        op: rados_read_op_t,
        keys: *const *const c_char,
        num_keys: usize,
        key_lens: *const usize,
        iter: *mut rados_omap_iter_t,
        prval: *mut c_int,
    );
    pub fn rados_aio_read_op_operate(
        op: rados_read_op_t,
        io: rados_ioctx_t,
        completion: rados_completion_t,
        oid: *const c_char,
        flags: c_int,
    ) -> c_int;

    pub fn rados_omap_get_next2(
        iter: rados_omap_iter_t,
        key: *mut *mut c_char,
        val: *mut *mut c_char,
        key_len: *mut usize,
        val_len: *mut usize,
    ) -> c_int;
    pub fn rados_omap_get_end(iter: rados_omap_iter_t);
}
