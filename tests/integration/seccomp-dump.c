/* seccomp-dump: the test that dumps the loaded seccomp program (cited by
 * src/sandbox/seccomp.c) and checks each rule of it.
 *
 *   seccomp-dump PID     the filters loaded in host process PID (run as
 *                        root on the host: PTRACE_SECCOMP_GET_FILTER), then
 *                        compared byte for byte with the program the
 *                        sandbox library builds (sp_seccomp_export)
 *   seccomp-dump --built only the program the library builds
 *
 * Each case is one seccomp_data (arch, syscall number, arguments) run
 * through the program by a small classic-BPF interpreter, with the action
 * it must give.  The probe cannot show some of these from inside: on this
 * kernel an x32 number gives ENOSYS even without any filter, and an i386
 * call cannot pass 64-bit arguments.  Prints one line per case ("ok ..."
 * or "WRONG ..."), exits 0 when every case holds, 1 when one does not, 2
 * when no program could be read. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox/seccomp.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define X32_BIT 0x40000000
#define MAX_FILTERS 8
#define MAX_INSNS 4096

struct prog {
	struct sock_filter insns[MAX_INSNS];
	size_t n;
};

struct data {
	int32_t nr;
	uint32_t arch;
	uint64_t ip;
	uint64_t args[6];
};

/* Runs one classic BPF program over D, as the kernel's seccomp does.
 * Returns the 32-bit return value, or 0 (KILL) on a malformed program. */
static uint32_t run(const struct prog *p, const struct data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };
	unsigned char buf[sizeof *d];

	memcpy(buf, d, sizeof buf);
	for (size_t pc = 0; pc < p->n; pc++) {
		const struct sock_filter *f = &p->insns[pc];
		uint32_t k = f->k, src;

		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
		case BPF_LDX: {
			uint32_t v;
			if (BPF_MODE(f->code) == BPF_ABS && BPF_SIZE(f->code) == BPF_W) {
				if (k % 4 != 0 || k + 4 > sizeof buf)
					return 0;
				memcpy(&v, buf + k, 4);
			} else if (BPF_MODE(f->code) == BPF_IMM) {
				v = k;
			} else if (BPF_MODE(f->code) == BPF_MEM && k < BPF_MEMWORDS) {
				v = mem[k];
			} else if (BPF_MODE(f->code) == BPF_LEN) {
				v = sizeof buf;
			} else {
				return 0;
			}
			if (BPF_CLASS(f->code) == BPF_LD)
				a = v;
			else
				x = v;
			break;
		}
		case BPF_ST:
		case BPF_STX:
			if (k >= BPF_MEMWORDS)
				return 0;
			mem[k] = BPF_CLASS(f->code) == BPF_ST ? a : x;
			break;
		case BPF_ALU:
			src = BPF_SRC(f->code) == BPF_X ? x : k;
			switch (BPF_OP(f->code)) {
			case BPF_ADD: a += src; break;
			case BPF_SUB: a -= src; break;
			case BPF_MUL: a *= src; break;
			case BPF_DIV: if (src == 0) return 0; a /= src; break;
			case BPF_MOD: if (src == 0) return 0; a %= src; break;
			case BPF_AND: a &= src; break;
			case BPF_OR: a |= src; break;
			case BPF_XOR: a ^= src; break;
			case BPF_LSH: a = src < 32 ? a << src : 0; break;
			case BPF_RSH: a = src < 32 ? a >> src : 0; break;
			case BPF_NEG: a = -a; break;
			default: return 0;
			}
			break;
		case BPF_JMP: {
			bool t;
			src = BPF_SRC(f->code) == BPF_X ? x : k;
			switch (BPF_OP(f->code)) {
			case BPF_JA: pc += k; continue;
			case BPF_JEQ: t = a == src; break;
			case BPF_JGT: t = a > src; break;
			case BPF_JGE: t = a >= src; break;
			case BPF_JSET: t = (a & src) != 0; break;
			default: return 0;
			}
			pc += t ? f->jt : f->jf;
			break;
		}
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_A ? a : k;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		default:
			return 0;
		}
	}
	return 0; /* fell off the end: the kernel rejects such a program */
}

/* Every filter of a chain runs; the action of highest precedence (the
 * lowest action value as signed) wins, as in the kernel. */
static uint32_t run_chain(const struct prog *progs, size_t n, const struct data *d)
{
	uint32_t best = SECCOMP_RET_ALLOW;

	for (size_t i = 0; i < n; i++) {
		uint32_t r = run(&progs[i], d);
		if ((int32_t)(r & SECCOMP_RET_ACTION_FULL) < (int32_t)(best & SECCOMP_RET_ACTION_FULL))
			best = r;
	}
	return best;
}

static void describe(uint32_t r, char *buf, size_t n)
{
	uint32_t act = r & SECCOMP_RET_ACTION_FULL, data = r & SECCOMP_RET_DATA;

	if (act == SECCOMP_RET_ALLOW)
		snprintf(buf, n, "ALLOW");
	else if (act == SECCOMP_RET_ERRNO)
		snprintf(buf, n, "ERRNO(%s)", strerrorname_np((int)data) ? strerrorname_np((int)data) : "?");
	else
		snprintf(buf, n, "action 0x%08x", r);
}

struct checker {
	const struct prog *progs;
	size_t n;
	int cases, wrong;
};

/* One case: syscall NR of ARCH with ARGS must give WANT. */
static void expect(struct checker *c, const char *what, uint32_t arch, int32_t nr, uint32_t want,
		   uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct data d = { .nr = nr, .arch = arch, .ip = 0x401000, .args = { a0, a1, a2, a3, 0, 0 } };
	uint32_t got = run_chain(c->progs, c->n, &d);
	char g[64], w[64];

	describe(got, g, sizeof g);
	describe(want, w, sizeof w);
	c->cases++;
	if (got != want) {
		c->wrong++;
		printf("WRONG %s: %s, want %s\n", what, g, w);
	} else {
		printf("ok %s: %s\n", what, g);
	}
}

#define NATIVE AUDIT_ARCH_X86_64
#define EPERM_ (SECCOMP_RET_ERRNO | EPERM)
#define ENOSYS_ (SECCOMP_RET_ERRNO | ENOSYS)
#define EAFNO_ (SECCOMP_RET_ERRNO | EAFNOSUPPORT)
#define ALLOW_ SECCOMP_RET_ALLOW

static void check_all(struct checker *c)
{
	size_t n_desc;
	const struct sp_seccomp_rule_desc *desc = sp_seccomp_rules(&n_desc);
	char what[160];

	/* Controls: what the instance's programs need goes through. */
	expect(c, "getpid", NATIVE, SYS_getpid, ALLOW_, 0, 0, 0, 0);
	expect(c, "read", NATIVE, SYS_read, ALLOW_, 0, 0, 0, 0);
	expect(c, "openat(O_CREAT, 0644)", NATIVE, SYS_openat, ALLOW_, 0, 0, 0100, 0644);
	expect(c, "clone(SIGCHLD) (fork)", NATIVE, SYS_clone, ALLOW_, SIGCHLD, 0, 0, 0);
	expect(c, "clone(CLONE_VM|CLONE_THREAD...) (a thread)", NATIVE, SYS_clone, ALLOW_, 0x3d0f00, 0, 0, 0);
	expect(c, "socket(AF_UNIX)", NATIVE, SYS_socket, ALLOW_, AF_UNIX, 0, 0, 0);
	expect(c, "socket(AF_INET)", NATIVE, SYS_socket, ALLOW_, AF_INET, 0, 0, 0);
	expect(c, "socket(AF_INET6)", NATIVE, SYS_socket, ALLOW_, AF_INET6, 0, 0, 0);
	expect(c, "socket(AF_NETLINK)", NATIVE, SYS_socket, ALLOW_, AF_NETLINK, 0, 0, 0);
	expect(c, "ioctl(TCGETS)", NATIVE, SYS_ioctl, ALLOW_, 0, TCGETS, 0, 0);
	expect(c, "personality(PER_LINUX)", NATIVE, SYS_personality, ALLOW_, 0, 0, 0, 0);
	expect(c, "chmod(0755)", NATIVE, SYS_chmod, ALLOW_, 0, 0755, 0, 0);

	/* The plain deny list, from the library's own table: the entries
	 * before the first rule built by hand ("clone(...)"). */
	for (size_t i = 0; i < n_desc && !strchr(desc[i].what, '('); i++) {
		int nr = seccomp_syscall_resolve_name(desc[i].what);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue; /* not an x86_64 syscall (vm86...) */
		snprintf(what, sizeof what, "%s", desc[i].what);
		expect(c, what, NATIVE, nr, EPERM_, 0, 0, 0, 0);
	}

	/* clone: each namespace flag on its own and among others. */
	static const struct { const char *name; uint64_t flag; } ns[] = {
		{ "CLONE_NEWNS", CLONE_NEWNS }, { "CLONE_NEWUSER", CLONE_NEWUSER }, { "CLONE_NEWPID", CLONE_NEWPID },
		{ "CLONE_NEWNET", CLONE_NEWNET }, { "CLONE_NEWIPC", CLONE_NEWIPC }, { "CLONE_NEWUTS", CLONE_NEWUTS },
		{ "CLONE_NEWCGROUP", CLONE_NEWCGROUP }, { "CLONE_NEWTIME", CLONE_NEWTIME },
	};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		snprintf(what, sizeof what, "clone(%s|SIGCHLD)", ns[i].name);
		expect(c, what, NATIVE, SYS_clone, EPERM_, ns[i].flag | SIGCHLD, 0, 0, 0);
	}
	expect(c, "clone(all namespace flags)", NATIVE, SYS_clone, EPERM_,
	       CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS, 0, 0, 0);
	expect(c, "clone3", NATIVE, SYS_clone3, ENOSYS_, 0, 0, 0, 0);

	/* ioctl: the request compared on its low 32 bits only. */
	expect(c, "ioctl(TIOCSTI)", NATIVE, SYS_ioctl, EPERM_, 0, TIOCSTI, 0, 0);
	expect(c, "ioctl(TIOCSTI | garbage in the upper 32 bits)", NATIVE, SYS_ioctl, EPERM_, 0,
	       0xdead000000000000ULL | TIOCSTI, 0, 0);
	expect(c, "ioctl(TIOCLINUX)", NATIVE, SYS_ioctl, EPERM_, 0, TIOCLINUX, 0, 0);
	expect(c, "ioctl(TIOCSETD)", NATIVE, SYS_ioctl, EPERM_, 0, TIOCSETD, 0, 0);

	expect(c, "personality(0xffffffff) (the query)", NATIVE, SYS_personality, EPERM_, 0xffffffffu, 0, 0, 0);
	expect(c, "personality(ADDR_NO_RANDOMIZE)", NATIVE, SYS_personality, EPERM_, ADDR_NO_RANDOMIZE, 0, 0, 0);
	expect(c, "personality(PER_LINUX32)", NATIVE, SYS_personality, EPERM_, PER_LINUX32, 0, 0, 0);

	static const struct { const char *name; uint64_t fam; } fams[] = {
		{ "AF_PACKET", AF_PACKET }, { "AF_KEY", AF_KEY }, { "AF_APPLETALK", AF_APPLETALK },
		{ "AF_X25", AF_X25 }, { "AF_BLUETOOTH", AF_BLUETOOTH }, { "AF_ALG", AF_ALG },
		{ "AF_VSOCK", AF_VSOCK }, { "AF_XDP", 44 }, { "AF_INET | 1<<32", (1ULL << 32) | AF_INET },
	};
	for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
		snprintf(what, sizeof what, "socket(%s)", fams[i].name);
		expect(c, what, NATIVE, SYS_socket, EAFNO_, fams[i].fam, 0, 0, 0);
	}

	/* The set-id bits wherever a mode is given. */
	static const struct { const char *name; int nr; unsigned arg; } modes[] = {
		{ "chmod", SYS_chmod, 1 }, { "fchmod", SYS_fchmod, 1 }, { "fchmodat", SYS_fchmodat, 2 },
		{ "fchmodat2", 452, 2 }, { "open", SYS_open, 2 }, { "openat", SYS_openat, 3 },
		{ "creat", SYS_creat, 1 }, { "mknod", SYS_mknod, 1 }, { "mknodat", SYS_mknodat, 2 },
	};
	static const struct { const char *name; uint64_t bits; } idbits[] = {
		{ "S_ISUID", S_ISUID | 0755 }, { "S_ISGID", S_ISGID | 0755 },
	};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		for (size_t b = 0; b < 2; b++) {
			uint64_t a[4] = { 0, 0, 0, 0 };
			a[modes[i].arg] = idbits[b].bits;
			if (modes[i].nr == SYS_open || modes[i].nr == SYS_openat)
				a[modes[i].arg - 1] = 0100; /* O_CREAT */
			snprintf(what, sizeof what, "%s(mode %s|0755)", modes[i].name, idbits[b].name);
			expect(c, what, NATIVE, modes[i].nr, EPERM_, a[0], a[1], a[2], a[3]);
		}
	}
	expect(c, "openat2", NATIVE, SYS_openat2, ENOSYS_, 0, 0, 0, 0);
	expect(c, "quotactl_fd", NATIVE, 443, EPERM_, 0, 0, 0, 0);

	/* Every other ABI: i386 (int 0x80) and x32 (the x32 bit on the
	 * x86_64 audit arch), with numbers that are harmless natively. */
	expect(c, "i386 getpid (20)", AUDIT_ARCH_I386, 20, ENOSYS_, 0, 0, 0, 0);
	expect(c, "i386 read (3)", AUDIT_ARCH_I386, 3, ENOSYS_, 0, 0, 0, 0);
	expect(c, "i386 nr 0", AUDIT_ARCH_I386, 0, ENOSYS_, 0, 0, 0, 0);
	expect(c, "x32 getpid (0x40000000|39)", NATIVE, X32_BIT | SYS_getpid, ENOSYS_, 0, 0, 0, 0);
	expect(c, "x32 read (0x40000000|0)", NATIVE, X32_BIT | SYS_read, ENOSYS_, 0, 0, 0, 0);
	expect(c, "x32 keyctl (0x40000000|250)", NATIVE, X32_BIT | SYS_keyctl, ENOSYS_, 0, 0, 0, 0);
	expect(c, "aarch64 arch", AUDIT_ARCH_AARCH64, SYS_getpid, ENOSYS_, 0, 0, 0, 0);
}

/* The filters of PID, newest first, through ptrace. */
static int dump_pid(pid_t pid, struct prog *progs, size_t *n)
{
	int st, r = 0;

	*n = 0;
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) {
		fprintf(stderr, "seccomp-dump: PTRACE_SEIZE %d: %s\n", (int)pid, strerror(errno));
		return -1;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0 || waitpid(pid, &st, __WALL) != pid) {
		fprintf(stderr, "seccomp-dump: stop %d: %s\n", (int)pid, strerror(errno));
		ptrace(PTRACE_DETACH, pid, 0, 0);
		return -1;
	}
	for (long i = 0; i < MAX_FILTERS; i++) {
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)i, NULL);
		if (len < 0) {
			/* ENOENT: past the last filter; EINVAL: the process
			 * is not in seccomp's filter mode at all. */
			if (errno != ENOENT && !(errno == EINVAL && i == 0)) {
				fprintf(stderr, "seccomp-dump: PTRACE_SECCOMP_GET_FILTER %ld: %s\n", i,
					strerror(errno));
				r = -1;
			}
			break;
		}
		if (len > MAX_INSNS) {
			fprintf(stderr, "seccomp-dump: filter %ld has %ld instructions\n", i, len);
			r = -1;
			break;
		}
		len = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)i, progs[*n].insns);
		if (len < 0) {
			r = -1;
			break;
		}
		progs[*n].n = (size_t)len;
		(*n)++;
	}
	ptrace(PTRACE_DETACH, pid, 0, 0);
	return r;
}

static int built(struct prog *p)
{
	struct sp_err err = { 0 };
	uint8_t *buf;
	size_t len;

	if (sp_seccomp_export(&buf, &len, &err) < 0) {
		fprintf(stderr, "seccomp-dump: %s\n", err.msg);
		return -1;
	}
	if (len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > MAX_INSNS) {
		free(buf);
		return -1;
	}
	memcpy(p->insns, buf, len);
	p->n = len / sizeof(struct sock_filter);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static struct prog progs[MAX_FILTERS], lib;
	struct checker c = { .progs = progs };
	size_t n = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: seccomp-dump PID | --built\n");
		return 2;
	}
	if (built(&lib) < 0)
		return 2;
	if (strcmp(argv[1], "--built") == 0) {
		progs[0] = lib;
		n = 1;
	} else {
		if (dump_pid((pid_t)atoi(argv[1]), progs, &n) < 0)
			return 2;
		printf("filters loaded: %zu\n", n);
		if (n == 0) {
			printf("WRONG no seccomp filter is loaded in process %s\n", argv[1]);
			return 1;
		}
		/* The newest filter is the instance's: it must be the very
		 * program the library builds from its rules. */
		bool same = progs[0].n == lib.n && memcmp(progs[0].insns, lib.insns, lib.n * sizeof lib.insns[0]) == 0;
		printf("%s the loaded program is the library's (%zu and %zu instructions)\n",
		       same ? "ok" : "WRONG", progs[0].n, lib.n);
		if (!same)
			c.wrong++;
	}
	c.n = n;
	check_all(&c);
	printf("%d cases, %d wrong\n", c.cases, c.wrong);
	return c.wrong ? 1 : 0;
}
