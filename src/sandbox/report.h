/* The channel from the instance's PID 1 to the engine on the host: a
 * SOCK_SEQPACKET pair, one message a packet, so that a setup error in the
 * child reaches the parent before anything is exec'd (crun's habit).  A
 * message can carry a descriptor; none does today (the pty is made on the
 * host side: pty.h). */
#pragma once

#include <stddef.h>

enum sp_report_type {
	SP_REPORT_ERROR = 'E',   /* text: setup failed, the instance never ran */
	SP_REPORT_STARTED = 'R', /* the command has been exec'd */
	SP_REPORT_MESSAGE = 'M', /* text: the command could not be exec'd */
	SP_REPORT_EXIT = 'X',    /* int: the command's wait status */
};

struct sp_report {
	char type;
	int status;
	int fd; /* -1 unless a descriptor came with it */
	char text[1024];
};

int sp_report_send(int sock, char type, const void *data, size_t len, int fd);
int sp_report_text(int sock, char type, const char *text);

/* 1 with a message, 0 at end of stream, -1 on error (errno). */
int sp_report_recv(int sock, struct sp_report *msg);
