/* Unit tests of the configuration parser (src/config/parse.c) and of
 * sp_parse_size().  The JSON in the tables is written with single quotes
 * for readability; quotes() turns them into double quotes before
 * parsing. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/model.h"
#include "util/err.h"

#define FILE_NAME "t.json"

/* A valid Nix base32 hash: 32 characters, no e, o, t or u. */
#define HASH "0123456789abcdfghijklmnpqrsvwxyz"
#define STORE(name) "/nix/store/" HASH "-" name
/* One instance "a" with the required keys and then the given ones. */
#define INST(...) "{'instances':{'a':{'software':['host'],'command':['sh']," __VA_ARGS__ "}}}"
/* One instance "a" with only the given keys. */
#define ONLY(...) "{'instances':{'a':{" __VA_ARGS__ "}}}"

struct bad_case {
	const char *json;
	const char *want; /* a substring of the message */
};

static const struct bad_case bad_cases[] = {
	/* Syntax, and the top level. */
	{ "", FILE_NAME ":1:0: " },
	{ "{", FILE_NAME ":1:1: " },
	{ "{'instances':{}} x", FILE_NAME ":1:18: end of file expected" },
	{ "{'instances':{'a':1,\n'a':2}}", FILE_NAME ":2:3: duplicate object key" },
	{ "{'instances':{'a':{'command':['a\\u0000b']}}}", FILE_NAME ":1:" },
	{ "[]", FILE_NAME ": expected an object with \"instances\"" },
	{ "{}", FILE_NAME ": instances: required" },
	{ "{'instances':[]}", FILE_NAME ": instances: expected an object of instances" },
	{ "{'instances':null}", FILE_NAME ": instances: expected an object of instances" },
	{ "{'instances':{}}", FILE_NAME ": instances: expected at least one instance" },
	{ "{'version':1,'instances':{}}", FILE_NAME ": version: unknown key" },
	/* Instance names and objects. */
	{ "{'instances':{'a':1}}", FILE_NAME ": instances.a: expected an object" },
	{ "{'instances':{'a':[]}}", FILE_NAME ": instances.a: expected an object" },
	{ "{'instances':{'A':{}}}", FILE_NAME ": instances.A: expected an instance name" },
	{ "{'instances':{'-a':{}}}", FILE_NAME ": instances.-a: expected an instance name" },
	{ "{'instances':{'a_b':{}}}", FILE_NAME ": instances.a_b: expected an instance name" },
	{ "{'instances':{'a.b':{}}}", FILE_NAME ": instances.a.b: expected an instance name" },
	{ "{'instances':{'':{}}}", FILE_NAME ": instances.: expected an instance name" },
	{ "{'instances':{'a\\nb':{}}}", FILE_NAME ": instances.a?b: expected an instance name" },
	{ "{'instances':{'a234567890123456789012345678901234567890123456789012345678901234':{}}}",
	  "expected an instance name matching [a-z0-9][a-z0-9-]{0,62}" },
	{ "{'instances':{'a':{'command':['sh']}}}", FILE_NAME ": instances.a.software: required" },
	{ "{'instances':{'a':{'software':['host']}}}", FILE_NAME ": instances.a.command: required" },
	{ INST("'colour':'red'"), FILE_NAME ": instances.a.colour: unknown key" },
	{ INST("'a\\tb':1"), FILE_NAME ": instances.a.a?b: unknown key" },
	{ "{'instances':{'ok':{'software':['host'],'command':['sh']},'b':{'x':1}}}",
	  FILE_NAME ": instances.b.x: unknown key" },
	/* isolation, vm, provides, net. */
	{ INST("'isolation':'docker'"), "instances.a.isolation: expected \"container\" or \"vm\"" },
	{ INST("'isolation':1"), "instances.a.isolation: expected \"container\" or \"vm\"" },
	{ INST("'vm':{'memory':'512M'}"), FILE_NAME ": instances.a.vm: only for \"isolation\": \"vm\"" },
	{ INST("'isolation':'vm','vm':{'memory':'64M'}"),
	  FILE_NAME ": instances.a.vm.memory: expected a size from \"128M\" to \"64G\"" },
	{ INST("'isolation':'vm','vm':{'memory':'1T'}"), "instances.a.vm.memory: expected a size from" },
	{ INST("'isolation':'vm','vm':{'memory':512}"), "instances.a.vm.memory: expected a size from" },
	{ INST("'isolation':'vm','vm':{'vcpus':0}"), "instances.a.vm.vcpus: expected a whole number of virtual CPUs" },
	{ INST("'isolation':'vm','vm':{'vcpus':65}"), "instances.a.vm.vcpus: expected a whole number of virtual CPUs" },
	{ INST("'isolation':'vm','vm':{'vcpus':1.5}"), "instances.a.vm.vcpus: expected a whole number of virtual CPUs" },
	{ INST("'isolation':'vm','vm':{'kernel':'boot/vmlinuz'}"), "instances.a.vm.kernel: expected an absolute path" },
	{ INST("'isolation':'vm','vm':{'kernel':'/boot/../etc/shadow'}"), "instances.a.vm.kernel: expected" },
	{ INST("'isolation':'vm','vm':{'kernel':7}"), "instances.a.vm.kernel: expected the absolute path of a kernel image" },
	{ INST("'isolation':'vm','vm':{'disk':'10G'}"), FILE_NAME ": instances.a.vm.disk: unknown key" },
	{ INST("'isolation':'vm','vm':[]"), "instances.a.vm: expected an object" },
	{ INST("'isolation':'vm','vm':{'memory':'512M'},'resources':{'memory':'550M'}"),
	  FILE_NAME ": instances.a.resources.memory: expected at least vm.memory plus 96M" },
	{ INST("'isolation':'vm','resources':{'memory':'300M'}"),
	  "instances.a.resources.memory: expected at least vm.memory plus 96M" },
	{ INST("'provides':['dns']"), "instances.a.provides[0]: expected \"net\"" },
	{ INST("'provides':['net','net']"), "instances.a.provides[1]: \"net\" is listed twice" },
	{ INST("'provides':'net'"), "instances.a.provides: expected a list" },
	{ INST("'net':{'provider':'netvm'}"), "instances.a.net.provider: no instance \"netvm\" in this configuration" },
	{ INST("'net':{'provider':'a'}"), "instances.a.net.provider: an instance cannot be its own provider" },
	{ INST("'net':{'provider':1}"), "instances.a.net.provider: expected the name of an instance" },
	{ INST("'net':{'provider':'x','mtu':1}"), "instances.a.net.mtu: unknown key" },
	{ INST("'uplink':'host'"), "instances.a.uplink: only for an instance with \"provides\": [\"net\"]" },
	{ INST("'provides':['net'],'uplink':'wifi'"), "instances.a.uplink: expected \"none\" or \"host\"" },
	{ INST("'net':{'provider':'x','allow':'tcp/443'}"), "instances.a.net.allow: expected a list of rules" },
	{ INST("'net':{'provider':'x','allow':['tcp/0']}"), "instances.a.net.allow[0]: expected a port from 1 to 65535" },
	{ INST("'net':{'provider':'x','allow':['tcp/443','sctp/1']}"), "instances.a.net.allow[1]: expected \"tcp/PORT\"" },
	{ INST("'net':{'provider':'x','allow':['tcp/22@192.0.2.1/24']}"),
	  "instances.a.net.allow[0]: expected a network address: the bits after the prefix must be zero" },
	{ INST("'net':{'provider':'x','allow':['tcp/22@192.0.2.0/33']}"), "expected a prefix length from 0 to 32" },
	{ INST("'net':{'provider':'x','allow':['tcp/22@example.org']}"), "expected an IPv4 address after \"@\"" },
	{ INST("'net':{'provider':'x','allow':['icmp/8']}"), "instances.a.net.allow[0]: expected no port for \"icmp\"" },
	{ INST("'net':{'provider':'x','allow':['tcp/90-80']}"), "expected a port range FIRST-LAST with FIRST <= LAST" },
	{ INST("'net':{'provider':'x','allow':['tcp/443x']}"), "instances.a.net.allow[0]: expected \"tcp/PORT\"" },
	{ INST("'net':{'provider':'x','peers':['b','b']}"), "instances.a.net.peers[1]: \"b\" is listed twice" },
	{ INST("'net':{'provider':'x','peers':['B']}"), "instances.a.net.peers[0]: expected the name of an instance" },
	{ "{'instances':{'a':{'software':['host'],'command':['sh'],'net':{'provider':'p'}},"
	  "'p':{'software':['host'],'command':['sh']}}}",
	  "instances.a.net.provider: \"p\" does not provide net" },
	{ "{'instances':{'a':{'software':['host'],'command':['sh'],'net':{'provider':'p','peers':['b']}},"
	  "'b':{'software':['host'],'command':['sh'],'net':{'provider':'p'}},"
	  "'p':{'software':['host'],'command':['sh'],'provides':['net']}}}",
	  "instances.a.net.peers[0]: \"b\" does not list \"a\" in its net.peers" },
	{ "{'instances':{'a':{'software':['host'],'command':['sh'],'net':{'provider':'p','peers':['a']}},"
	  "'p':{'software':['host'],'command':['sh'],'provides':['net']}}}",
	  "instances.a.net.peers[0]: an instance is not its own peer" },
	{ "{'instances':{'a':{'software':['host'],'command':['sh'],'net':{'provider':'p'},'provides':['net']},"
	  "'p':{'software':['host'],'command':['sh'],'provides':['net']}}}",
	  "instances.a.net: a provider cannot also be a client" },
	{ "{'instances':{'p':{'software':['host'],'command':['sh'],'provides':['net'],'isolation':'vm'}}}",
	  "instances.p.provides: a VM instance cannot provide net yet" },
	{ INST("'net':'host'"), "instances.a.net: expected \"none\" or {\"provider\": NAME}" },
	{ INST("'net':{}"), "instances.a.net: expected \"none\" or {\"provider\": NAME}" },
	{ INST("'net':null"), "instances.a.net: expected \"none\" or {\"provider\": NAME}" },
	/* software */
	{ ONLY("'software':[],'command':['sh']"), "instances.a.software: expected a non-empty list" },
	{ ONLY("'software':'host','command':['sh']"), "instances.a.software: expected a non-empty list" },
	{ ONLY("'software':[1],'command':['sh']"), "instances.a.software[0]: expected \"host\" or a Nix store path" },
	{ ONLY("'software':['host','host'],'command':['sh']"),
	  "instances.a.software[1]: duplicate \"host\" (also software[0])" },
	{ ONLY("'software':['" STORE("x") "','host','" STORE("x") "'],'command':['sh']"),
	  "instances.a.software[2]: duplicate \"" STORE("x") "\" (also software[0])" },
	{ ONLY("'software':['/usr'],'command':['sh']"), "instances.a.software[0]: expected \"host\" or a Nix store path" },
	{ ONLY("'software':['Host'],'command':['sh']"), "got \"Host\"" },
	{ ONLY("'software':['/nix/store/0123456789abcdfghijklmnpqrsvwxy-x'],'command':['sh']"),
	  "instances.a.software[0]: expected" },
	{ ONLY("'software':['/nix/store/e123456789abcdfghijklmnpqrsvwxyz-x'],'command':['sh']"),
	  "instances.a.software[0]: expected" },
	{ ONLY("'software':['/nix/store/" HASH "'],'command':['sh']"), "instances.a.software[0]: expected" },
	{ ONLY("'software':['/nix/store/" HASH "-'],'command':['sh']"), "instances.a.software[0]: expected" },
	{ ONLY("'software':['/nix/store/" HASH "x'],'command':['sh']"), "instances.a.software[0]: expected" },
	{ ONLY("'software':['" STORE("x") "/bin'],'command':['sh']"), "instances.a.software[0]: expected" },
	{ ONLY("'software':['" STORE("a b") "'],'command':['sh']"), "instances.a.software[0]: expected" },
	{ ONLY("'software':['/nix/store/../" HASH "-x'],'command':['sh']"), "instances.a.software[0]: expected" },
	{ ONLY("'software':['/nix/store/" HASH "-x\\n'],'command':['sh']"), "got \"/nix/store/" HASH "-x\\x0a\"" },
	/* command */
	{ ONLY("'software':['host'],'command':[]"), "instances.a.command: expected a non-empty list of strings" },
	{ ONLY("'software':['host'],'command':'sh'"), "instances.a.command: expected a non-empty list of strings" },
	{ ONLY("'software':['host'],'command':['']"), "instances.a.command[0]: expected a non-empty string" },
	{ ONLY("'software':['host'],'command':['sh',1]"), "instances.a.command[1]: expected a non-empty string" },
	{ ONLY("'software':['host'],'command':['sh',null]"), "instances.a.command[1]: expected a non-empty string" },
	/* data */
	{ INST("'data':{}"), "instances.a.data: expected a list of grants" },
	{ INST("'data':[1]"), "instances.a.data[0]: expected an object" },
	{ INST("'data':[{'at':'/x'}]"), "instances.a.data[0].path: required" },
	{ INST("'data':[{'path':'x'}]"), "instances.a.data[0].at: required" },
	{ INST("'data':[{'path':'x','at':'/x','size':1}]"), "instances.a.data[0].size: unknown key" },
	{ INST("'data':[{'path':1,'at':'/x'}]"), "instances.a.data[0].path: expected a path relative" },
	{ INST("'data':[{'path':'','at':'/x'}]"), "instances.a.data[0].path: expected a non-empty path" },
	{ INST("'data':[{'path':'/abs','at':'/x'}]"), "instances.a.data[0].path: expected a path relative to the data directory, not an absolute" },
	{ INST("'data':[{'path':'..','at':'/x'}]"), "instances.a.data[0].path: expected a path without \"..\"" },
	{ INST("'data':[{'path':'../x','at':'/x'}]"), "instances.a.data[0].path: expected a path without \"..\"" },
	{ INST("'data':[{'path':'a/../b','at':'/x'}]"), "instances.a.data[0].path: expected a path without \"..\"" },
	{ INST("'data':[{'path':'a/..','at':'/x'}]"), "instances.a.data[0].path: expected a path without \"..\"" },
	{ INST("'data':[{'path':'.','at':'/x'}]"), "instances.a.data[0].path: expected a path without \".\"" },
	{ INST("'data':[{'path':'./a','at':'/x'}]"), "instances.a.data[0].path: expected a path without \".\"" },
	{ INST("'data':[{'path':'a//b','at':'/x'}]"), "instances.a.data[0].path: expected a path without empty components" },
	{ INST("'data':[{'path':'a/','at':'/x'}]"), "instances.a.data[0].path: expected a path without empty components" },
	{ INST("'data':[{'path':'x','at':1}]"), "instances.a.data[0].at: expected an absolute path" },
	{ INST("'data':[{'path':'x','at':'x'}]"), "instances.a.data[0].at: expected an absolute path" },
	{ INST("'data':[{'path':'x','at':''}]"), "instances.a.data[0].at: expected an absolute path" },
	{ INST("'data':[{'path':'x','at':'/'}]"), "instances.a.data[0].at: expected a path beneath \"/\"" },
	{ INST("'data':[{'path':'x','at':'//x'}]"), "instances.a.data[0].at: expected a path without empty components" },
	{ INST("'data':[{'path':'x','at':'/x/'}]"), "instances.a.data[0].at: expected a path without empty components" },
	{ INST("'data':[{'path':'x','at':'/x/../etc'}]"), "instances.a.data[0].at: expected a path without \"..\"" },
	{ INST("'data':[{'path':'x','at':'/./x'}]"), "instances.a.data[0].at: expected a path without \".\"" },
	{ INST("'data':[{'path':'x','at':'/proc'}]"), "instances.a.data[0].at: expected a path outside /proc" },
	{ INST("'data':[{'path':'x','at':'/dev/shm'}]"), "instances.a.data[0].at: expected a path outside /dev" },
	{ INST("'data':[{'path':'x','at':'/sys/fs'}]"), "instances.a.data[0].at: expected a path outside /sys" },
	{ INST("'data':[{'path':'x','at':'/nix/store'}]"), "instances.a.data[0].at: expected a path outside /nix" },
	{ INST("'data':[{'path':'x','at':'/usr/share/x'}]"), "expected a path outside /usr, which the engine provides, got \"/usr/share/x\"" },
	{ INST("'data':[{'path':'x','at':'/etc'}]"), "instances.a.data[0].at: expected a path outside /etc" },
	{ INST("'data':[{'path':'x','at':'/bin'}]"), "instances.a.data[0].at: expected a path outside /bin" },
	{ INST("'data':[{'path':'x','at':'/sbin/x'}]"), "instances.a.data[0].at: expected a path outside /sbin" },
	{ INST("'data':[{'path':'x','at':'/lib'}]"), "instances.a.data[0].at: expected a path outside /lib," },
	{ INST("'data':[{'path':'x','at':'/lib64/x'}]"), "instances.a.data[0].at: expected a path outside /lib64" },
	{ INST("'data':[{'path':'x','at':'/lib32'}]"), "instances.a.data[0].at: expected a path outside /lib32" },
	{ INST("'data':[{'path':'x','at':'/libx32'}]"), "instances.a.data[0].at: expected a path outside /libx32" },
	{ INST("'data':[{'path':'x','at':'/tmp/x'}]"), "instances.a.data[0].at: expected a path outside /tmp" },
	{ INST("'data':[{'path':'x','at':'/run/user'}]"), "instances.a.data[0].at: expected a path outside /run" },
	{ INST("'data':[{'path':'x','at':'/home/user'}]"), "instances.a.data[0].at: expected a path beneath the home" },
	{ INST("'data':[{'path':'x','at':'/x','mode':'rx'}]"), FILE_NAME ": instances.a.data[0].mode: expected \"ro\" or \"rw\"" },
	{ INST("'data':[{'path':'x','at':'/x','mode':true}]"), "instances.a.data[0].mode: expected \"ro\" or \"rw\"" },
	{ INST("'data':[{'path':'x','at':'/x','mode':'RW'}]"), "instances.a.data[0].mode: expected \"ro\" or \"rw\"" },
	{ INST("'data':[{'path':'x','at':'/x'},{'path':'y','at':'/x'}]"),
	  "instances.a.data[1].at: duplicate mount target \"/x\" (also data[0])" },
	{ INST("'data':[{'path':'x','at':'/x'},{'path':'y','at':'/y'},{'path':'z','at':'/y'}]"),
	  "instances.a.data[2].at: duplicate mount target \"/y\" (also data[1])" },
	/* resources */
	{ INST("'resources':[]"), "instances.a.resources: expected an object" },
	{ INST("'resources':{'swap':'1G'}"), "instances.a.resources.swap: unknown key" },
	{ INST("'resources':{'memory':'1K'}"), "instances.a.resources.memory: expected a size such as \"256M\" (at least 1M)" },
	{ INST("'resources':{'memory':'1048575'}"), "instances.a.resources.memory: expected a size such as \"256M\" (at least 1M)" },
	{ INST("'resources':{'memory':256}"), "instances.a.resources.memory: expected a size" },
	{ INST("'resources':{'memory':'256Q'}"), "instances.a.resources.memory: expected a size" },
	{ INST("'resources':{'memory':'-1M'}"), "instances.a.resources.memory: expected a size" },
	{ INST("'resources':{'memory':'1.5G'}"), "instances.a.resources.memory: expected a size" },
	{ INST("'resources':{'memory':' 1M'}"), "instances.a.resources.memory: expected a size" },
	{ INST("'resources':{'memory':''}"), "instances.a.resources.memory: expected a size" },
	{ INST("'resources':{'cpus':0}"), "instances.a.resources.cpus: expected a number of CPUs greater than 0" },
	{ INST("'resources':{'cpus':-0.5}"), "instances.a.resources.cpus: expected a number of CPUs" },
	{ INST("'resources':{'cpus':1024.5}"), "instances.a.resources.cpus: expected a number of CPUs" },
	{ INST("'resources':{'cpus':'1'}"), "instances.a.resources.cpus: expected a number of CPUs" },
	{ INST("'resources':{'pids':1}"), "instances.a.resources.pids: expected a whole number from 2 (its PID 1 and the command) to 4194304" },
	{ INST("'resources':{'pids':4194305}"), "instances.a.resources.pids: expected a whole number" },
	{ INST("'resources':{'pids':-1}"), "instances.a.resources.pids: expected a whole number" },
	{ INST("'resources':{'pids':1.5}"), "instances.a.resources.pids: expected a whole number" },
	{ INST("'resources':{'pids':'10'}"), "instances.a.resources.pids: expected a whole number" },
	{ INST("'resources':{'files':63}"),
	  FILE_NAME ": instances.a.resources.files: expected a whole number of open files from 64 to 1048576" },
	{ INST("'resources':{'files':1048577}"), "instances.a.resources.files: expected a whole number of open files" },
	{ INST("'resources':{'files':'1024'}"), "instances.a.resources.files: expected a whole number of open files" },
	{ INST("'resources':{'files':1024.5}"), "instances.a.resources.files: expected a whole number of open files" },
	{ INST("'resources':{'tmp':'1K'}"),
	  FILE_NAME ": instances.a.resources.tmp: expected a size such as \"64M\" (at least 1M)" },
	{ INST("'resources':{'tmp':64}"), "instances.a.resources.tmp: expected a size such as \"64M\"" },
	{ INST("'resources':{'shm':'big'}"), "instances.a.resources.shm: expected a size such as \"64M\"" },
	{ INST("'resources':{'shm':'0'}"), "instances.a.resources.shm: expected a size such as \"64M\" (at least 1M)" },
	{ INST("'resources':{'memory':'64M','tmp':'65M'}"),
	  FILE_NAME ": instances.a.resources.tmp: expected at most resources.memory" },
	{ INST("'resources':{'shm':'1G','memory':'512M'}"),
	  FILE_NAME ": instances.a.resources.shm: expected at most resources.memory" },
	/* env */
	{ INST("'env':[]"), "instances.a.env: expected an object" },
	{ INST("'env':{'1A':'x'}"), "instances.a.env.1A: expected a variable name" },
	{ INST("'env':{'A-B':'x'}"), "instances.a.env.A-B: expected a variable name" },
	{ INST("'env':{'A=B':'x'}"), "instances.a.env.A=B: expected a variable name" },
	{ INST("'env':{'':'x'}"), "instances.a.env.: expected a variable name" },
	{ INST("'env':{'HOME':'/x'}"), "instances.a.env.HOME: set by the engine" },
	{ INST("'env':{'USER':'x'}"), "instances.a.env.USER: set by the engine" },
	{ INST("'env':{'LOGNAME':'x'}"), "instances.a.env.LOGNAME: set by the engine" },
	{ INST("'env':{'A':1}"), "instances.a.env.A: expected a string" },
	{ INST("'env':{'A':'x','B':null}"), "instances.a.env.B: expected a string" },
	/* restart, autostart */
	{ INST("'restart':'sometimes'"), "instances.a.restart: expected \"no\", \"on-failure\" or \"always\"" },
	{ INST("'restart':true"), "instances.a.restart: expected \"no\"" },
	{ INST("'autostart':'yes'"), "instances.a.autostart: expected true or false" },
	{ INST("'autostart':1"), "instances.a.autostart: expected true or false" },
	/* stop_timeout */
	{ INST("'stop_timeout':0"), "instances.a.stop_timeout: expected a whole number of seconds from 1 to 3600" },
	{ INST("'stop_timeout':3601"), "instances.a.stop_timeout: expected a whole number" },
	{ INST("'stop_timeout':2.5"), "instances.a.stop_timeout: expected a whole number" },
	{ INST("'stop_timeout':'10'"), "instances.a.stop_timeout: expected a whole number" },
};

#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

/* A copy of JSON with ' replaced by ". */
static char *quotes(const char *json)
{
	char *s = strdup(json);

	assert_non_null(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

static void assert_zeroed(const struct sp_config *cfg)
{
	assert_null(cfg->file);
	assert_null(cfg->instances);
	assert_int_equal(cfg->n_instances, 0);
}

/* Parses TEXT, which must fail with a one-line usage error that starts
 * with the file name and contains WANT, and leave the model zeroed.
 * Returns false, having said why, when it does not. */
static bool check_error(const char *text, size_t len, const char *want)
{
	struct sp_config cfg;
	struct sp_err err = { 0 };
	int r = sp_config_parse(text, len, FILE_NAME, &cfg, &err);

	if (r == -1 && err.kind == SP_ERR_USAGE && strstr(err.msg, want) &&
	    !strchr(err.msg, '\n') &&
	    strncmp(err.msg, FILE_NAME ":", strlen(FILE_NAME ":")) == 0 &&
	    !cfg.file && !cfg.instances && cfg.n_instances == 0)
		return true;
	print_error("input: %.200s\n want: %s\n  got: r=%d kind=%d %s\n",
		    text ? text : "(null)", want, r, (int)err.kind, err.msg);
	if (r == 0)
		sp_config_free(&cfg);
	return false;
}

static void expect_error(const char *text, size_t len, const char *want)
{
	assert_true(check_error(text, len, want));
}

/* Every case runs, so that one failure does not hide the others. */
static void test_bad_table(void **state)
{
	size_t failed = 0;

	(void)state;
	assert_true(N_BAD >= 50);
	for (size_t i = 0; i < N_BAD; i++) {
		char *text = quotes(bad_cases[i].json);

		if (!check_error(text, strlen(text), bad_cases[i].want))
			failed++;
		free(text);
	}
	assert_int_equal(failed, 0);
}

/* Inputs too long or too odd for the table. */
static void test_bad_generated(void **state)
{
	const char *head = "{\"instances\":{\"a\":{\"software\":[\"host\"],\"command\":[\"sh\"],"
			   "\"data\":[{\"at\":\"/x\",\"path\":\"";
	const char *tail = "\"}]}}}";
	size_t n = 4097;
	char *text = malloc(strlen(head) + n + strlen(tail) + 1), *p;

	(void)state;
	assert_non_null(text);
	/* A 4097-byte path: "a/a/.../a" */
	p = stpcpy(text, head);
	for (size_t i = 0; i < n; i++)
		*p++ = i % 2 ? '/' : 'a';
	strcpy(p, tail);
	expect_error(text, strlen(text), "instances.a.data[0].path: expected a path of at most 4096 bytes");
	/* The same with 4095 bytes is fine. */
	memmove(text + strlen(head) + n - 2, text + strlen(head) + n, strlen(tail) + 1);
	{
		struct sp_config cfg;
		struct sp_err err = { 0 };

		assert_int_equal(sp_config_parse(text, strlen(text), FILE_NAME, &cfg, &err), 0);
		assert_int_equal(strlen(cfg.instances[0].data[0].path), 4095);
		sp_config_free(&cfg);
	}
	free(text);

	/* A long unknown key is cut short in the key path. */
	text = quotes(INST("'k0123456789012345678901234567890123456789012345678901234567890123456789':1"));
	expect_error(text, strlen(text), "instances.a.k012345678901234567890123456789012345678901234567890123456789012...: unknown key");
	free(text);

	/* A NUL byte inside the buffer, and text that is not UTF-8. */
	{
		static const char nul[] = "{\"instances\":\0{}}";
		static const char latin1[] = "{\"instances\":{\"\xff\":{}}}";

		expect_error(nul, sizeof nul - 1, FILE_NAME ":1:");
		expect_error(latin1, sizeof latin1 - 1, FILE_NAME ":1:");
	}
	/* The length is honoured: the text is cut before it ends. */
	expect_error("{\"instances\":{}}", 5, FILE_NAME ":1:");
	/* No text at all. */
	expect_error(NULL, 0, FILE_NAME ":1:0:");
}

static struct sp_config parse_ok(const char *json)
{
	char *text = quotes(json);
	struct sp_config cfg;
	struct sp_err err = { 0 };

	if (sp_config_parse(text, strlen(text), FILE_NAME, &cfg, &err) != 0) {
		print_error("input: %s\n  got: %s\n", text, err.msg);
		fail();
	}
	free(text);
	return cfg;
}

/* DESIGN.md's writer example, minus what is not supported yet. */
static void test_good_writer(void **state)
{
	struct sp_config cfg = parse_ok(
		"{'instances':{'writer-work':{"
		"'isolation':'container',"
		"'software':['" STORE("writer") "'],"
		"'command':['writer'],"
		"'data':[{'path':'Documents/work','at':'/home/user/Documents','mode':'rw'}],"
		"'net':'none',"
		"'resources':{'memory':'256M','cpus':0.5,'pids':128},"
		"'env':{'LANG':'C.UTF-8'},"
		"'restart':'on-failure',"
		"'autostart':true}}}");
	const struct sp_instance *w;

	(void)state;
	assert_string_equal(cfg.file, FILE_NAME);
	assert_int_equal(cfg.n_instances, 1);
	w = sp_config_find(&cfg, "writer-work");
	assert_ptr_equal(w, &cfg.instances[0]);
	assert_string_equal(w->name, "writer-work");
	assert_int_equal(w->isolation, SP_ISOLATION_CONTAINER);
	assert_false(w->software_host);
	assert_string_equal(w->store_paths[0], STORE("writer"));
	assert_null(w->store_paths[1]);
	assert_string_equal(w->command[0], "writer");
	assert_null(w->command[1]);
	assert_int_equal(w->n_data, 1);
	assert_string_equal(w->data[0].path, "Documents/work");
	assert_string_equal(w->data[0].at, "/home/user/Documents");
	assert_int_equal(w->data[0].mode, SP_GRANT_RW);
	assert_int_equal(w->resources.memory, 256u << 20);
	assert_true(w->resources.cpus == 0.5);
	assert_int_equal(w->resources.pids, 128);
	assert_int_equal(w->n_env, 1);
	assert_string_equal(w->env[0].key, "LANG");
	assert_string_equal(w->env[0].value, "C.UTF-8");
	assert_int_equal(w->restart, SP_RESTART_ON_FAILURE);
	assert_true(w->autostart);
	assert_null(sp_config_find(&cfg, "writer"));
	assert_null(sp_config_find(&cfg, NULL));
	assert_null(sp_config_find(NULL, "writer-work"));
	sp_config_free(&cfg);
	assert_zeroed(&cfg);
}

static void test_good_defaults(void **state)
{
	struct sp_config cfg = parse_ok("{'instances':{'a':{'software':['host'],'command':['sh','-c','echo hi']}}}");
	const struct sp_instance *a = &cfg.instances[0];

	(void)state;
	assert_string_equal(a->name, "a");
	assert_int_equal(a->isolation, SP_ISOLATION_CONTAINER);
	assert_true(a->software_host);
	assert_non_null(a->store_paths);
	assert_null(a->store_paths[0]);
	assert_string_equal(a->command[0], "sh");
	assert_string_equal(a->command[1], "-c");
	assert_string_equal(a->command[2], "echo hi");
	assert_null(a->command[3]);
	assert_null(a->data);
	assert_int_equal(a->n_data, 0);
	assert_int_equal(a->resources.memory, 0);
	assert_true(a->resources.cpus == 0);
	assert_int_equal(a->resources.pids, 0);
	assert_int_equal(a->resources.files, 0);
	assert_int_equal(a->resources.tmp, 0);
	assert_int_equal(a->resources.shm, 0);
	assert_null(a->env);
	assert_int_equal(a->n_env, 0);
	assert_int_equal(a->restart, SP_RESTART_NO);
	assert_false(a->autostart);
	assert_int_equal(a->stop_timeout, SP_STOP_TIMEOUT_DEFAULT);
	sp_config_free(&cfg);
}

static void test_good_many(void **state)
{
	struct sp_config cfg = parse_ok(
		"{'instances':{"
		"'z9':{'software':['host','" STORE("a.b+c_d?e=f-1") "','" STORE("x") "'],"
		"'command':['/bin/true'],'data':[],'env':{},'resources':{},"
		"'restart':'always','autostart':false,'net':'none','stop_timeout':3600},"
		"'0-a':{'software':['" STORE("y") "','host'],'command':['x'],"
		"'data':[{'path':'a','at':'/home/user/a'},"
		"{'path':'.hidden/b..c/...','at':'/home/user/a/b','mode':'ro'},"
		"{'path':'c','at':'/usrlocal','mode':'rw'},"
		"{'path':'c','at':'/home/userx'},{'path':'d','at':'/home'},"
		"{'path':'e','at':'/srv/..x/.y'}],"
		"'env':{'_':'','B_2':'x=y','a':'\\u00e9'},"
		"'resources':{'memory':'1M','cpus':1024,'pids':4194304,'files':1048576,'tmp':'1M','shm':'1M'}},"
		"'a234567890123456789012345678901234567890123456789012345678901-3':"
		"{'software':['host'],'command':['sh'],'resources':{'memory':'2GiB','cpus':1e-3,'pids':2,'files':64,"
		"'tmp':'2G','shm':'512M'}}"
		"}}");
	const struct sp_instance *z, *a, *l;

	(void)state;
	assert_int_equal(cfg.n_instances, 3);
	/* In the file's order. */
	assert_string_equal(cfg.instances[0].name, "z9");
	assert_string_equal(cfg.instances[1].name, "0-a");
	z = sp_config_find(&cfg, "z9");
	a = sp_config_find(&cfg, "0-a");
	l = &cfg.instances[2];
	assert_non_null(z);
	assert_non_null(a);
	assert_true(z->software_host);
	assert_string_equal(z->store_paths[0], STORE("a.b+c_d?e=f-1"));
	assert_string_equal(z->store_paths[1], STORE("x"));
	assert_null(z->store_paths[2]);
	assert_int_equal(z->n_data, 0);
	assert_int_equal(z->n_env, 0);
	assert_int_equal(z->restart, SP_RESTART_ALWAYS);
	assert_int_equal(z->stop_timeout, 3600);
	assert_false(z->autostart);

	assert_true(a->software_host);
	assert_string_equal(a->store_paths[0], STORE("y"));
	assert_null(a->store_paths[1]);
	assert_int_equal(a->n_data, 6);
	assert_int_equal(a->data[0].mode, SP_GRANT_RO);
	assert_string_equal(a->data[1].path, ".hidden/b..c/...");
	assert_int_equal(a->data[1].mode, SP_GRANT_RO);
	assert_string_equal(a->data[2].at, "/usrlocal");
	assert_int_equal(a->data[2].mode, SP_GRANT_RW);
	assert_string_equal(a->data[3].at, "/home/userx");
	assert_string_equal(a->data[4].at, "/home");
	assert_string_equal(a->data[5].at, "/srv/..x/.y");
	assert_int_equal(a->n_env, 3);
	assert_string_equal(a->env[0].key, "_");
	assert_string_equal(a->env[0].value, "");
	assert_string_equal(a->env[1].key, "B_2");
	assert_string_equal(a->env[1].value, "x=y");
	assert_string_equal(a->env[2].value, "\xc3\xa9");
	assert_int_equal(a->resources.memory, 1u << 20);
	assert_true(a->resources.cpus == 1024);
	assert_int_equal(a->resources.pids, 4194304);
	assert_int_equal(a->resources.files, 1048576);
	assert_int_equal(a->resources.tmp, 1u << 20);
	assert_int_equal(a->resources.shm, 1u << 20);

	assert_int_equal(strlen(l->name), 63);
	assert_int_equal(l->resources.memory, (uint64_t)2 << 30);
	assert_true(l->resources.cpus == 1e-3);
	assert_int_equal(l->resources.pids, 2);
	assert_int_equal(l->resources.files, 64);
	assert_int_equal(l->resources.tmp, (uint64_t)2 << 30);
	assert_int_equal(l->resources.shm, (uint64_t)512 << 20);
	sp_config_free(&cfg);
}

static void test_free_zeroed(void **state)
{
	struct sp_config cfg = { 0 };

	(void)state;
	sp_config_free(&cfg);
	sp_config_free(&cfg);
	sp_config_free(NULL);
	assert_zeroed(&cfg);
}

static void test_name_valid(void **state)
{
	(void)state;
	assert_true(sp_name_valid("a"));
	assert_true(sp_name_valid("0"));
	assert_true(sp_name_valid("writer-work"));
	assert_true(sp_name_valid("a-"));
	assert_true(sp_name_valid("a23456789012345678901234567890123456789012345678901234567890123"));
	assert_false(sp_name_valid("a234567890123456789012345678901234567890123456789012345678901234"));
	assert_false(sp_name_valid(""));
	assert_false(sp_name_valid(NULL));
	assert_false(sp_name_valid("-a"));
	assert_false(sp_name_valid("A"));
	assert_false(sp_name_valid("a b"));
	assert_false(sp_name_valid("a/b"));
	assert_false(sp_name_valid("\xc3\xa9"));
}

static void test_size(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "512B", 512 },
		{ "007", 7 },
		{ "1K", 1024 },
		{ "1k", 1024 },
		{ "1KB", 1024 },
		{ "1KiB", 1024 },
		{ "256M", (uint64_t)256 << 20 },
		{ "256m", (uint64_t)256 << 20 },
		{ "256MiB", (uint64_t)256 << 20 },
		{ "256MB", (uint64_t)256 << 20 },
		{ "2G", (uint64_t)2 << 30 },
		{ "2g", (uint64_t)2 << 30 },
		{ "3T", (uint64_t)3 << 40 },
		{ "16777215T", (uint64_t)16777215 << 40 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", (uint64_t)17179869183 << 30 },
	};
	static const char *const bad[] = {
		"", "-1M", "+1M", "256Q", "1.5G", " 1M", "1M ", "M", "K", "B", "iB",
		"1iB", "1Mi", "1MiBB", "1KK", "1BB", "0x10", "1e3", "1 M",
		"16777216T", "17179869184G", "18446744073709551616", "99999999999999999999999",
	};
	uint64_t bytes;

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		bytes = 12345;
		if (sp_parse_size(good[i].text, &bytes) != 0 || bytes != good[i].bytes) {
			print_error("size \"%s\": got %llu\n", good[i].text, (unsigned long long)bytes);
			fail();
		}
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bytes = 12345;
		if (sp_parse_size(bad[i], &bytes) != -1 || bytes != 12345) {
			print_error("size \"%s\" accepted\n", bad[i]);
			fail();
		}
	}
	assert_int_equal(sp_parse_size(NULL, &bytes), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_bad_generated),
		cmocka_unit_test(test_good_writer),
		cmocka_unit_test(test_good_defaults),
		cmocka_unit_test(test_good_many),
		cmocka_unit_test(test_free_zeroed),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
