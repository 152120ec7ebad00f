/*
 * Test only (t/rate_limit_tree_key.t): nginx's rbtree as a platform whose
 * ngx_rbtree_key_t is 32 bits wide would give it to the gateway's glue.
 */

#define ngx_rbtree_key_t      ngx_rbtree_key_native_t
#define ngx_rbtree_key_int_t  ngx_rbtree_key_int_native_t

#include_next <ngx_rbtree.h>

#undef ngx_rbtree_key_t
#undef ngx_rbtree_key_int_t

typedef uint32_t  ngx_rbtree_key_t;
typedef int32_t   ngx_rbtree_key_int_t;
