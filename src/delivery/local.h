/*
 * local.h - local delivery: queue recipients into account mail stores.
 *
 * The queue's worker thread calls local_delivery_run with a batch of due
 * messages.  Each recipient is expanded (aliases, sub-addressing,
 * catch-all, postmaster); local users get the message in their INBOX with
 * Return-Path: and Delivered-To: prepended, all users of a batch made
 * durable by one sync; remote addresses an alias points at go back to the
 * queue as new recipients.  Delivery is idempotent per (queue id, final
 * address), so a crash after the store commit never delivers twice.
 */
#ifndef POSTINO_DELIVERY_LOCAL_H
#define POSTINO_DELIVERY_LOCAL_H

#include <stddef.h>

struct config;
struct queue_job;
struct local_delivery;

struct local_delivery *local_delivery_new(const struct config *cfg);
void local_delivery_free(struct local_delivery **ld);
/* A queue_deliver_fn: sets every recipient's status. */
void local_delivery_run(void *ctx, struct queue_job *const *jobs,
    size_t njobs);

#endif
