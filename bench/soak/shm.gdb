# Read by gdb attached to the gateway's master (bench/soak/run): for every
# shared memory zone of the running cycle, the lock word of its slab pool
# (the pid of the process holding the zone's mutex, 0 when free) and its
# count of waiters; for the gateway balancer's zones, every slot's peer,
# requests in flight and breaker. Types come from the module's debug info.

set pagination off
set $part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part
while $part
  set $i = 0
  while $i < $part->nelts
    set $zone = &((ngx_shm_zone_t *) $part->elts)[$i]
    printf "zone "
    output *$zone->shm.name.data@$zone->shm.name.len
    printf " lock %lu wait %lu\n", ((ngx_slab_pool_t *) $zone->shm.addr)->lock.lock, ((ngx_slab_pool_t *) $zone->shm.addr)->lock.wait
    if $zone->init == ngx_http_gateway_upstream_init_zone
      set $table = (ngx_http_gateway_upstream_shctx_t *) ((ngx_slab_pool_t *) $zone->shm.addr)->data
      set $s = 0
      while $s < $table->nslots
        printf "slot "
        output *$zone->shm.name.data@$zone->shm.name.len
        printf " "
        output *$table->addrs[$s].name@$table->addrs[$s].name_len
        printf " flags %u conns %u circuit %u trials %u\n", $table->peers[$s].flags, $table->peers[$s].conns, $table->peers[$s].breaker.state, $table->peers[$s].breaker.trials
        set $s = $s + 1
      end
    end
    set $i = $i + 1
  end
  set $part = $part->next
end
