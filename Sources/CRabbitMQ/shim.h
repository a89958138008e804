#ifndef TOLLGATE_CRABBITMQ_SHIM_H
#define TOLLGATE_CRABBITMQ_SHIM_H
// Debian 12 ships rabbitmq-c 0.11 with the headers at the top of the include
// path (no rabbitmq-c/ folder).
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>

// Swift cannot call C variadic functions: amqp_login_with_properties takes the
// SASL PLAIN user and password as varargs, so wrap it with fixed arguments.
static inline amqp_rpc_reply_t tollgate_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max,
    int frame_max, int heartbeat, const amqp_table_t *client_properties,
    const char *user, const char *password) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max,
                                    heartbeat, client_properties,
                                    AMQP_SASL_METHOD_PLAIN, user, password);
}
#endif
