# Inside the VM: which TCP events this kernel has, their formats, and the trace of the
# lesson's abrupt close and of fin-timeout/expired (an RST from no socket).
T=/sys/kernel/tracing
mount -t tracefs nodev $T
for ns in client server; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add eth0c type veth peer name eth0s
ip link set eth0c netns client; ip link set eth0s netns server
ip -n client addr add 10.99.0.1/24 dev eth0c; ip -n client link set eth0c up
ip -n server addr add 10.99.0.2/24 dev eth0s; ip -n server link set eth0s up
for e in sock/inet_sock_set_state tcp/tcp_send_reset tcp/tcp_receive_reset \
         tcp/tcp_retransmit_skb tcp/tcp_destroy_sock sock/inet_sk_error_report; do
    if [ -e $T/events/$e/format ]; then
        echo "### format $e"; cat $T/events/$e/format; echo 1 > $T/events/$e/enable
    else
        echo "### missing $e"
    fi
done
echo mono > $T/trace_clock
echo 1 > $T/tracing_on
run() {   # name port server-delay client-lines...
    name=$1 port=$2 delay=$3; shift 3
    ip netns exec server timeout 30 graceserver --port $port --server-delay $delay --sigpipe ignore \
        --events /tmp/$name-server.jsonl > /tmp/$name-server.out 2>&1 &
    sleep 0.5
    { for line in "$@"; do echo "$line"; sleep 0.25; done; sleep $((2 * ${delay%.*} + 2)); } \
        | ip netns exec client graceclient --port $port --after-close 8 \
          --events /tmp/$name-client.jsonl 10.99.0.2 > /tmp/$name-client.out 2>&1
    wait
    for role in client server; do
        echo "### output $name $role"; cat /tmp/$name-$role.out
        echo "### events $name $role"; cat /tmp/$name-$role.jsonl
        echo "### nstat $name $role"; ip netns exec $role nstat -as TcpOutRsts TcpExtTCPAbortOnData
    done
}
run close-abrupt 43211 1 data1 data2 close
run fin-timeout-expired 43212 2.5 "linger2 1" data1 close
echo 0 > $T/tracing_on
echo "### trace"; cat $T/trace
