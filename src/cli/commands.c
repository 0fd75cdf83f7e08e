/* The table of subcommands and their help texts (kept in step with
 * doc/spectrum.1 and README.md). */
#include <string.h>

#include "cli/cli.h"

static const struct sp_command commands[] = {
	{ "run", sp_cmd_run, "run [--config FILE] NAME [-- CMD...]",
	  "Runs instance NAME in the foreground, unsupervised, with stdio attached, and\n"
	  "exits with its command's status (128+N when killed by signal N; 137 and a\n"
	  "message when its memory limit was exceeded).  CMD replaces the configured\n"
	  "command.  When stdin, stdout or stderr is a terminal the instance gets a new\n"
	  "pty of its own, relayed to it.  An instance with isolation \"vm\" boots its\n"
	  "own kernel under QEMU (KVM when it can boot there, else TCG); its stdio,\n"
	  "signals and status pass through the guest's agent.\n\n"
	  "  --config FILE   the configuration (.json, or .nix evaluated with Nix)\n"
	  "  --notify-fd N   write a newline to descriptor N once the command runs\n"
	  "                  (readiness for s6's notification-fd)\n" },
	{ "check", sp_cmd_check, "check [--json]",
	  "Says what this host supports, feature by feature: namespaces, seccomp,\n"
	  "Landlock, cgroups (v2 and v1 controllers), idmapped mounts on the store,\n"
	  "openat2, KVM or TCG for VMs (a probe boot under KVM, once per kernel), the\n"
	  "guest's boot files, virtiofsd, QEMU, Nix, s6.  Exits 1 when a feature every\n"
	  "instance needs is missing.\n\n"
	  "  --json          machine-readable output\n" },
	{ "inspect", sp_cmd_inspect, "inspect [--config FILE] NAME [--json]",
	  "Prints everything NAME can see and do, from its configuration: software,\n"
	  "every path it can read or write, network, limits, and the confinement that\n"
	  "will be applied.  Starts nothing.\n\n"
	  "  --config FILE   the configuration (.json or .nix)\n"
	  "  --json          the plan as JSON\n" },
	{ "switch", sp_cmd_switch, "switch [FILE]",
	  "Evaluates FILE (.nix with Nix, or .json), validates it, builds every\n"
	  "derivation it references, registers GC roots for its software, records\n"
	  "each instance's closure and hashes as a new generation, and makes that\n"
	  "generation current with one atomic rename.  Without FILE, the file of the\n"
	  "current generation is evaluated again.  Then, once supervision is in use\n"
	  "(an s6-svscan runs for the run directory: `spectrum start` starts one),\n"
	  "reconciles: starts new autostart instances, stops removed ones, restarts\n"
	  "only the running ones whose definition changed, and prints what it did;\n"
	  "otherwise it prints what would start, stop or restart.\n"
	  "Bad configuration changes nothing.\n" },
	{ "generations", sp_cmd_generations, "generations",
	  "Lists the generations: number, * for the current one, when, how many\n"
	  "instances, and the file each was made from.\n" },
	{ "rollback", sp_cmd_rollback, "rollback",
	  "Makes the generation before the current one current again, atomically,\n"
	  "and says what changes.\n" },
	{ "diff", sp_cmd_diff, "diff [A B]",
	  "The difference between generations A and B (default: the one before the\n"
	  "current and the current), per instance in plain words: software changed,\n"
	  "grant added or removed, limit raised, instance removed...\n" },
	{ "list", sp_cmd_list, "list [--json]",
	  "Every instance of the current generation: isolation, state (up, down,\n"
	  "starting, failed), pid, uptime, memory (from its cgroup), network (a\n"
	  "client's address and provider, \"(down)\" when its link is gone; a\n"
	  "provider; none) and number of grants.\n\n"
	  "  --json          one JSON array\n" },
	{ "start", sp_cmd_start, "start NAME...",
	  "Starts instances of the current generation under s6 supervision (an\n"
	  "s6-svscan for the run directory is started when none runs) and waits\n"
	  "until each is ready: its command has been started.  A client whose\n"
	  "network provider does not run starts it first.\n" },
	{ "stop", sp_cmd_stop, "stop NAME...",
	  "Stops supervised instances: SIGTERM, then SIGKILL after the instance's\n"
	  "stop_timeout; every process of the instance is gone afterwards.\n"
	  "Stopping a network provider names each running client it leaves\n"
	  "without network; they are linked again within a second of its start.\n" },
	{ "restart", sp_cmd_restart, "restart NAME...", "Stops, then starts, supervised instances.\n" },
	{ "exec", sp_cmd_exec, "exec [--config FILE] NAME -- CMD...",
	  "Runs CMD inside the running instance NAME: in its namespaces and cgroups,\n"
	  "with the very same confinement (user, no capabilities, no_new_privs,\n"
	  "seccomp, Landlock, clean environment), and a new pty made on the host side\n"
	  "when stdio is a terminal: no other process of the instance can open it.\n"
	  "Exits with CMD's status (128+N on signal N).\n"
	  "Container instances only: joining a running VM is not built yet.\n\n"
	  "  --config FILE   the configuration the instance runs from (default: the\n"
	  "                  current generation)\n" },
	{ "logs", sp_cmd_logs, "logs NAME [-f] [--raw]",
	  "Prints the log of a supervised instance (its stdout and stderr, kept\n"
	  "by s6-log under log/NAME/ of the store, rotated).  What the instance\n"
	  "wrote is shown with terminal controls escaped (ESC as \\e, other control\n"
	  "characters as \\xHH; newlines and tabs kept), into a pipe or a file as\n"
	  "well, so that it cannot retitle the window, write the clipboard or clear\n"
	  "the screen.  A VM's serial console (its kernel's messages) is in\n"
	  "log/NAME/console, from its last boot.\n\n"
	  "  -f              keep printing what is added\n"
	  "  --raw           the bytes as the instance wrote them\n" },
	{ "verify", sp_cmd_verify, "verify [--full] [NAME...]",
	  "Checks the software of each instance (all, or NAME...) against what the\n"
	  "current generation recorded: every store path of its closure against the\n"
	  "recorded NAR hash and the Nix database, and for \"host\" software every\n"
	  "file of /usr against the recorded manifest.  A difference exits 1 and\n"
	  "names the store path and the file.  By default unchanged metadata (size,\n"
	  "ctime, inode) is trusted;\n\n"
	  "  --full          rehash every file\n" },
	{ "grant", NULL, "grant NAME PATH [--ro]", NULL },
	{ "revoke", NULL, "revoke NAME PATH", NULL },
	{ "requests", NULL, "requests", NULL },
	{ "approve", NULL, "approve ID", NULL },
	{ "deny", NULL, "deny ID", NULL },
	{ "backup", sp_cmd_backup, "backup init|create|list|restore|verify|prune|repair|unlock|lock|key ...",
	  "Backups of the whole store (data/, state/, generations/, current) into a\n"
	  "repository: a directory, e.g. on an external disk.  Content-defined chunks,\n"
	  "deduplicated across snapshots and instances, zstd-compressed, and with\n"
	  "--encrypt sealed with XChaCha20-Poly1305 under a key that a passphrase\n"
	  "(Argon2id) protects.  Format: doc/backup-format.md.\n\n"
	  "  backup init [--encrypt]           make a repository (an empty directory)\n"
	  "  backup create [--instance NAME]... [--live] [--quiet] [--allow-unencrypted]\n"
	  "                                    a snapshot of the store, or only of the\n"
	  "                                    homes of NAME...; running instances are\n"
	  "                                    frozen while their home is read unless\n"
	  "                                    --live; files unchanged since the last\n"
	  "                                    snapshot are not read again; exits 3\n"
	  "                                    when entries that could not be read\n"
	  "                                    consistently were left out (named); a\n"
	  "                                    store once backed up encrypted is not\n"
	  "                                    written in clear without\n"
	  "                                    --allow-unencrypted\n"
	  "  backup list [--json]              the snapshots\n"
	  "  backup restore SNAPSHOT [--instance NAME]... [--to DIR]\n"
	  "                                    SNAPSHOT: \"latest\" or 8+ hex digits of\n"
	  "                                    its id; into DIR (new or empty), or in\n"
	  "                                    place, part by part atomically, refused\n"
	  "                                    while an instance being restored runs\n"
	  "  backup verify [--read-data]       check everything; with --read-data read\n"
	  "                                    every byte; names each damaged snapshot\n"
	  "                                    and file; exits 1 on damage (also for\n"
	  "                                    deleted or rolled back snapshots);\n"
	  "                                    changes nothing\n"
	  "  backup repair                     rebuild the index from the packs\n"
	  "  backup prune --keep-last N [--keep-hourly|daily|weekly|monthly|yearly N]\n"
	  "               [--dry-run]          forget other snapshots, free their data\n"
	  "  backup unlock [--for 15m]         keep the keys of an encrypted repository\n"
	  "                                    in root's kernel keyring for a while (at\n"
	  "                                    most a day): no passphrase, no Argon2id\n"
	  "                                    (~0.6 s) for each command meanwhile\n"
	  "  backup lock                       remove them now\n"
	  "  backup key passwd [--new-passphrase-file F]\n"
	  "                                    seal the keys under a new passphrase\n"
	  "                                    (else $SPECTRUM_NEW_PASSPHRASE, else\n"
	  "                                    asked twice)\n\n"
	  "Every subcommand takes:\n"
	  "  --repo DIR             the repository (default $SPECTRUM_BACKUP_REPO)\n"
	  "  --passphrase-file F    the passphrase of an encrypted repository (first\n"
	  "                         line); else $SPECTRUM_PASSPHRASE; else a prompt\n" },
	{ NULL, NULL, NULL, NULL },
};

const struct sp_command *sp_commands(void)
{
	return commands;
}

const struct sp_command *sp_command_find(const char *name)
{
	for (const struct sp_command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

bool sp_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void sp_usage(FILE *out)
{
	fprintf(out,
		"Usage: spectrum [--state-dir DIR] [--run-dir DIR] COMMAND [ARGS...]\n"
		"\n"
		"Security through compartmentalization: applications run in isolated\n"
		"instances, all their data lives in one central store, and one\n"
		"configuration declares every instance.\n"
		"\n"
		"Options:\n"
		"  --state-dir DIR  the central store (default $SPECTRUM_STATE_DIR or /var/lib/spectrum)\n"
		"  --run-dir DIR    runtime files (default $SPECTRUM_RUN_DIR or /run/spectrum)\n"
		"  -h, --help       this help; `spectrum COMMAND --help` for one command\n"
		"  --version        the version\n"
		"\n"
		"Commands:\n");
	for (const struct sp_command *c = commands; c->name; c++)
		fprintf(out, "  %-46s%s\n", c->synopsis, c->help ? "" : "(not implemented yet)");
	fprintf(out, "\nExit status: 0 success, 1 failure at run time, 2 bad usage or configuration;\n"
		     "run exits with the instance command's own status.\n");
}

void sp_command_usage(const struct sp_command *cmd, FILE *out)
{
	fprintf(out, "Usage: spectrum %s\n\n%s", cmd->synopsis,
		cmd->help ? cmd->help : "Not implemented yet.\n");
}
