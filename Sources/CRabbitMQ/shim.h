#ifndef TOLLGATE_CRABBITMQ_SHIM_H
#define TOLLGATE_CRABBITMQ_SHIM_H
// Debian 12 ships rabbitmq-c 0.11 with the headers at the top of the include
// path (no rabbitmq-c/ folder).
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif
