/*
 * Prints, as JSON, the layouts and constants of the kernel and libc ABI that runtime/Interop (and
 * Iovec in runtime/Bdev) mirror in C#, taken from the real headers (linux-libc-dev, libc6-dev).
 * tests/unit/Abi/KernelLayoutTests.cs compiles it with gcc, runs it and compares every number
 * with the C# definitions. It lists exactly the members and constants the C# side declares: a
 * mirror may cover part of a struct (io_uring_sqe, stat), but every part it covers is checked.
 *
 *   {"structs": {"io_uring_sqe": {"size": 64, "fields": [{"name": "opcode", "offset": 0,
 *    "size": 1}, ...]}, ...}, "constants": {"IORING_OP_READ": 22, ...}}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/aio_abi.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <linux/vfio.h>

static const char *sep = "";

static void begin_struct(const char *name, size_t size)
{
	printf("%s\n  \"%s\": {\"size\": %zu, \"fields\": [", sep, name, size);
	sep = "";
}

static void field(const char *name, size_t offset, size_t size)
{
	printf("%s\n    {\"name\": \"%s\", \"offset\": %zu, \"size\": %zu}", sep, name, offset, size);
	sep = ",";
}

static void end_struct(void)
{
	printf("]}");
	sep = ",";
}

/* Signed and unsigned constants both print exactly (UINT64 values and negative ones alike). */
static void constant(const char *name, int negative, unsigned long long value)
{
	if (negative)
		printf("%s\n  \"%s\": -%llu", sep, name, 0ULL - value);
	else
		printf("%s\n  \"%s\": %llu", sep, name, value);
	sep = ",";
}

#define S(s) begin_struct(#s, sizeof(struct s))
#define F(s, m) field(#m, offsetof(struct s, m), sizeof(((struct s *)0)->m))
#define K(c) constant(#c, (c) < 0, (unsigned long long)(c))

static void structs(void)
{
	S(io_sqring_offsets);
	F(io_sqring_offsets, head); F(io_sqring_offsets, tail);
	F(io_sqring_offsets, ring_mask); F(io_sqring_offsets, ring_entries);
	F(io_sqring_offsets, flags); F(io_sqring_offsets, dropped);
	F(io_sqring_offsets, array); F(io_sqring_offsets, resv1);
	/* Linux 6.5 renamed the last member resv2 to user_addr (IORING_SETUP_NO_MMAP came with
	 * it); the C# mirror uses the new name, so print the old one under it. */
#ifdef IORING_SETUP_NO_MMAP
	F(io_sqring_offsets, user_addr);
#else
	field("user_addr", offsetof(struct io_sqring_offsets, resv2), sizeof(__u64));
#endif
	end_struct();

	S(io_cqring_offsets);
	F(io_cqring_offsets, head); F(io_cqring_offsets, tail);
	F(io_cqring_offsets, ring_mask); F(io_cqring_offsets, ring_entries);
	F(io_cqring_offsets, overflow); F(io_cqring_offsets, cqes);
	F(io_cqring_offsets, flags); F(io_cqring_offsets, resv1);
#ifdef IORING_SETUP_NO_MMAP
	F(io_cqring_offsets, user_addr);
#else
	field("user_addr", offsetof(struct io_cqring_offsets, resv2), sizeof(__u64));
#endif
	end_struct();

	S(io_uring_params);
	F(io_uring_params, sq_entries); F(io_uring_params, cq_entries);
	F(io_uring_params, flags); F(io_uring_params, sq_thread_cpu);
	F(io_uring_params, sq_thread_idle); F(io_uring_params, features);
	F(io_uring_params, wq_fd);
	F(io_uring_params, resv[0]); F(io_uring_params, resv[1]); F(io_uring_params, resv[2]);
	F(io_uring_params, sq_off); F(io_uring_params, cq_off);
	end_struct();

	S(io_uring_sqe);
	F(io_uring_sqe, opcode); F(io_uring_sqe, flags); F(io_uring_sqe, ioprio);
	F(io_uring_sqe, fd); F(io_uring_sqe, off); F(io_uring_sqe, addr);
	F(io_uring_sqe, len); F(io_uring_sqe, rw_flags); F(io_uring_sqe, user_data);
	F(io_uring_sqe, buf_index); F(io_uring_sqe, personality);
	F(io_uring_sqe, splice_fd_in); F(io_uring_sqe, addr3); F(io_uring_sqe, __pad2);
	end_struct();

	S(io_uring_files_update);
	F(io_uring_files_update, offset); F(io_uring_files_update, resv); F(io_uring_files_update, fds);
	end_struct();

	S(io_uring_cqe);
	F(io_uring_cqe, user_data); F(io_uring_cqe, res); F(io_uring_cqe, flags);
	end_struct();

	S(iocb);
	F(iocb, aio_data); F(iocb, aio_key); F(iocb, aio_rw_flags);
	F(iocb, aio_lio_opcode); F(iocb, aio_reqprio); F(iocb, aio_fildes);
	F(iocb, aio_buf); F(iocb, aio_nbytes); F(iocb, aio_offset);
	F(iocb, aio_reserved2); F(iocb, aio_flags); F(iocb, aio_resfd);
	end_struct();

	S(io_event);
	F(io_event, data); F(io_event, obj); F(io_event, res); F(io_event, res2);
	end_struct();

	S(vfio_group_status);
	F(vfio_group_status, argsz); F(vfio_group_status, flags);
	end_struct();

	S(vfio_region_info);
	F(vfio_region_info, argsz); F(vfio_region_info, flags); F(vfio_region_info, index);
	F(vfio_region_info, cap_offset); F(vfio_region_info, size); F(vfio_region_info, offset);
	end_struct();

	S(vfio_iommu_type1_dma_map);
	F(vfio_iommu_type1_dma_map, argsz); F(vfio_iommu_type1_dma_map, flags);
	F(vfio_iommu_type1_dma_map, vaddr); F(vfio_iommu_type1_dma_map, iova);
	F(vfio_iommu_type1_dma_map, size);
	end_struct();

	S(vfio_iommu_type1_dma_unmap);
	F(vfio_iommu_type1_dma_unmap, argsz); F(vfio_iommu_type1_dma_unmap, flags);
	F(vfio_iommu_type1_dma_unmap, iova); F(vfio_iommu_type1_dma_unmap, size);
	end_struct();

	/* glibc's struct stat: what fstat(2) through libc fills (the kernel's, on x86_64). */
	S(stat);
	F(stat, st_dev); F(stat, st_ino); F(stat, st_mode); F(stat, st_rdev);
	F(stat, st_size); F(stat, st_blksize);
	end_struct();

	S(iovec);
	F(iovec, iov_base); F(iovec, iov_len);
	end_struct();

	S(sockaddr_in);
	F(sockaddr_in, sin_family); F(sockaddr_in, sin_port); F(sockaddr_in, sin_addr);
	F(sockaddr_in, sin_zero);
	end_struct();

	S(sockaddr_in6);
	F(sockaddr_in6, sin6_family); F(sockaddr_in6, sin6_port); F(sockaddr_in6, sin6_flowinfo);
	F(sockaddr_in6, sin6_addr); F(sockaddr_in6, sin6_scope_id);
	end_struct();

	S(sockaddr_un);
	F(sockaddr_un, sun_family); F(sockaddr_un, sun_path);
	end_struct();

	S(msghdr);
	F(msghdr, msg_name); F(msghdr, msg_namelen); F(msghdr, msg_iov); F(msghdr, msg_iovlen);
	F(msghdr, msg_control); F(msghdr, msg_controllen); F(msghdr, msg_flags);
	end_struct();

	S(epoll_event);
	F(epoll_event, events); F(epoll_event, data);
	end_struct();

	S(pollfd);
	F(pollfd, fd); F(pollfd, events); F(pollfd, revents);
	end_struct();
}

static void socket_constants(void)
{
	K(AF_UNIX); K(AF_INET); K(AF_INET6); K(SOCK_STREAM); K(SOCK_NONBLOCK); K(SOCK_CLOEXEC);
	K(SOL_SOCKET); K(SO_REUSEADDR); K(SO_ERROR); K(SO_SNDBUF); K(SO_RCVBUF);
	K(IPPROTO_TCP); K(IPPROTO_IPV6); K(IPV6_V6ONLY); K(TCP_NODELAY);
	K(MSG_DONTWAIT); K(MSG_NOSIGNAL); K(SHUT_WR); K(SHUT_RDWR);
	K(SIGHUP); K(SIGINT); K(SIGQUIT); K(SIGKILL); K(SIGUSR1); K(SIGTERM);
	K(EPOLL_CLOEXEC); K(EPOLL_CTL_ADD); K(EPOLL_CTL_DEL); K(EPOLL_CTL_MOD);
	K(EPOLLIN); K(EPOLLOUT); K(EPOLLERR); K(EPOLLHUP); K(EPOLLRDHUP);
	K(POLLIN); K(POLLOUT);
}

static void io_uring_constants(void)
{
	K(SYS_io_uring_setup); K(SYS_io_uring_enter); K(SYS_io_uring_register);
	K(IORING_SETUP_SQPOLL); K(IORING_SETUP_CQSIZE); K(IORING_SETUP_CLAMP);
	K(IORING_SETUP_COOP_TASKRUN); K(IORING_SETUP_TASKRUN_FLAG);
	K(IORING_OP_NOP); K(IORING_OP_READV); K(IORING_OP_WRITEV); K(IORING_OP_FSYNC);
	K(IORING_OP_READ_FIXED); K(IORING_OP_WRITE_FIXED); K(IORING_OP_FALLOCATE);
	K(IORING_OP_READ); K(IORING_OP_WRITE); K(IORING_OP_URING_CMD);
	K(IOSQE_FIXED_FILE); K(IORING_FSYNC_DATASYNC);
	K(IORING_ENTER_GETEVENTS); K(IORING_ENTER_SQ_WAKEUP);
	K(IORING_SQ_NEED_WAKEUP); K(IORING_SQ_CQ_OVERFLOW); K(IORING_SQ_TASKRUN);
	K(IORING_FEAT_SINGLE_MMAP); K(IORING_FEAT_NODROP);
	K(IORING_OFF_SQ_RING); K(IORING_OFF_CQ_RING); K(IORING_OFF_SQES);
	K(IORING_REGISTER_BUFFERS); K(IORING_REGISTER_FILES); K(IORING_REGISTER_FILES_UPDATE);
	K(FALLOC_FL_KEEP_SIZE); K(FALLOC_FL_PUNCH_HOLE); K(FALLOC_FL_ZERO_RANGE);
}

static void aio_vfio_constants(void)
{
	K(SYS_io_setup); K(SYS_io_destroy); K(SYS_io_getevents); K(SYS_io_submit);
	K(IOCB_CMD_PREAD); K(IOCB_CMD_PWRITE); K(IOCB_CMD_FSYNC); K(IOCB_CMD_FDSYNC);
	K(IOCB_CMD_PREADV); K(IOCB_CMD_PWRITEV);

	K(VFIO_GET_API_VERSION); K(VFIO_CHECK_EXTENSION); K(VFIO_SET_IOMMU);
	K(VFIO_GROUP_GET_STATUS); K(VFIO_GROUP_SET_CONTAINER); K(VFIO_GROUP_UNSET_CONTAINER);
	K(VFIO_GROUP_GET_DEVICE_FD); K(VFIO_DEVICE_GET_INFO); K(VFIO_DEVICE_GET_REGION_INFO);
	K(VFIO_DEVICE_RESET); K(VFIO_IOMMU_MAP_DMA); K(VFIO_IOMMU_UNMAP_DMA);
	K(VFIO_API_VERSION); K(VFIO_TYPE1_IOMMU); K(VFIO_TYPE1v2_IOMMU);
	K(VFIO_GROUP_FLAGS_VIABLE); K(VFIO_GROUP_FLAGS_CONTAINER_SET);
	K(VFIO_DMA_MAP_FLAG_READ); K(VFIO_DMA_MAP_FLAG_WRITE); K(VFIO_REGION_INFO_FLAG_MMAP);
	K(VFIO_PCI_BAR0_REGION_INDEX); K(VFIO_PCI_CONFIG_REGION_INDEX);
}

static void libc_constants(void)
{
	K(PROT_READ); K(PROT_WRITE); K(PROT_EXEC);
	K(MAP_SHARED); K(MAP_PRIVATE); K(MAP_FIXED); K(MAP_ANONYMOUS); K(MAP_NORESERVE);
	K(MAP_POPULATE); K(MAP_HUGETLB); K(MFD_CLOEXEC); K(MFD_HUGETLB);
	K(O_RDONLY); K(O_WRONLY); K(O_RDWR); K(O_CREAT); K(O_EXCL); K(O_TRUNC); K(O_DIRECT);
	K(SEEK_DATA); K(SEEK_HOLE);
	K(MADV_WILLNEED); K(MADV_HUGEPAGE); K(MADV_NOHUGEPAGE); K(SYS_write);
	K(O_CLOEXEC); K(O_NONBLOCK); K(F_GETFL); K(F_SETFL); K(_SC_NPROCESSORS_ONLN);
	K(BLKSSZGET); K(BLKGETSIZE64); K(S_IFMT); K(S_IFREG); K(S_IFBLK); K(S_IFDIR); K(S_IFSOCK);
}

static void errno_constants(void)
{
	K(EPERM); K(ENOENT); K(ESRCH); K(EINTR); K(EIO); K(ENXIO); K(E2BIG); K(EBADF); K(ECHILD);
	K(EAGAIN); K(ENOMEM); K(EACCES); K(EFAULT); K(EBUSY); K(EEXIST); K(EXDEV); K(ENODEV);
	K(ENOTDIR); K(EISDIR); K(EINVAL); K(ENFILE); K(EMFILE); K(EFBIG); K(ENOSPC); K(ESPIPE);
	K(EROFS); K(EPIPE); K(ERANGE); K(EDEADLK); K(ENAMETOOLONG); K(ENOSYS); K(ENOTEMPTY);
	K(ENODATA); K(ETIME); K(EPROTO); K(EBADMSG); K(EOVERFLOW); K(EILSEQ); K(EOPNOTSUPP);
	K(ENOTSUP); K(ENOTSOCK); K(EAFNOSUPPORT); K(EADDRINUSE); K(EADDRNOTAVAIL); K(ECONNRESET); K(ENOBUFS); K(ENOTCONN); K(ESHUTDOWN); K(ETIMEDOUT);
	K(ECONNREFUSED); K(EALREADY); K(EINPROGRESS); K(ECANCELED); K(EKEYREJECTED);
}

int main(void)
{
	printf("{\"structs\": {");
	structs();
	printf("\n},\n\"constants\": {");
	sep = "";
	io_uring_constants();
	aio_vfio_constants();
	libc_constants();
	socket_constants();
	errno_constants();
	printf("\n}}\n");
	return ferror(stdout) ? 1 : 0;
}
