/*
 * server.h - `postino serve`: the event loop and everything wired to it.
 *
 * One libevent loop drives all connections.  Blocking work (the queue's
 * group fsync, local delivery into the store) runs on the queue's threads
 * and comes back to the loop as an event.
 */
#ifndef POSTINO_SERVER_SERVER_H
#define POSTINO_SERVER_SERVER_H

struct config;

/* Runs until SIGTERM/SIGINT; returns the process exit status. */
int server_run(struct config *cfg);

#endif
