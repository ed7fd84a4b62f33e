//! hz's integration tests: one binary (so every engine links once).
//!
//! `suite` holds the checks as generic functions over an engine name;
//! `backend_suite!` instantiates them for each engine the build has.

mod cli;
#[cfg(any(feature = "v8", feature = "boa"))]
mod cross;
mod rust_api;
mod scratch;
mod send_sync;
mod suite;
#[cfg(feature = "v8")]
mod v8_only;

/// Instantiates every check of `suite` for one engine. Kept dumb on purpose.
macro_rules! backend_suite {
    ($module:ident, $engine:expr) => {
        mod $module {
            use crate::suite;
            const E: &str = $engine;
            #[test]
            fn rendezvous_send_waits_for_a_receiver() {
                suite::rendezvous_send_waits_for_a_receiver(E)
            }
            #[test]
            fn bounded_send_waits_when_full() {
                suite::bounded_send_waits_when_full(E)
            }
            #[test]
            fn close_drains_then_done() {
                suite::close_drains_then_done(E)
            }
            #[test]
            fn close_wakes_blocked_receivers_and_senders() {
                suite::close_wakes_blocked_receivers_and_senders(E)
            }
            #[test]
            fn send_on_closed_channel_rejects() {
                suite::send_on_closed_channel_rejects(E)
            }
            #[test]
            fn channel_methods_reject_other_objects() {
                suite::channel_methods_reject_other_objects(E)
            }
            #[test]
            fn pending_ops_complete_in_any_order() {
                suite::pending_ops_complete_in_any_order(E)
            }
            #[test]
            fn try_send_and_try_recv() {
                suite::try_send_and_try_recv(E)
            }
            #[test]
            fn select_picks_a_ready_case() {
                suite::select_picks_a_ready_case(E)
            }
            #[test]
            fn select_default_when_nothing_ready() {
                suite::select_default_when_nothing_ready(E)
            }
            #[test]
            fn select_timeout() {
                suite::select_timeout(E)
            }
            #[test]
            fn select_waits_then_completes_one_case() {
                suite::select_waits_then_completes_one_case(E)
            }
            #[test]
            fn join_returns_the_value() {
                suite::join_returns_the_value(E)
            }
            #[test]
            fn join_rejects_with_the_error() {
                suite::join_rejects_with_the_error(E)
            }
            #[test]
            fn uncaught_throw_of_non_error() {
                suite::uncaught_throw_of_non_error(E)
            }
            #[test]
            fn terminate_stops_an_infinite_loop() {
                suite::terminate_stops_an_infinite_loop(E)
            }
            #[test]
            fn terminate_ends_an_allocating_loop() {
                suite::terminate_ends_an_allocating_loop(E)
            }
            #[test]
            fn terminate_is_uncatchable() {
                suite::terminate_is_uncatchable(E)
            }
            #[test]
            fn state_persists_across_threads() {
                suite::state_persists_across_threads(E)
            }
            #[test]
            fn thousand_agents_round_trip_on_two_threads() {
                suite::thousand_agents_round_trip_on_two_threads(E)
            }
            #[test]
            fn syntax_error_in_spawned_source() {
                suite::syntax_error_in_spawned_source(E)
            }
            #[test]
            fn sending_a_function_is_a_data_clone_error() {
                suite::sending_a_function_is_a_data_clone_error(E)
            }
            #[test]
            fn channels_travel_through_spawn_and_channels() {
                suite::channels_travel_through_spawn_and_channels(E)
            }
            #[test]
            fn clone_round_trips_values() {
                suite::clone_round_trips_values(E)
            }
            #[test]
            fn timers_and_microtasks_order() {
                suite::timers_and_microtasks_order(E)
            }
            #[test]
            fn performance_now_is_monotonic_and_fine() {
                suite::performance_now_is_monotonic_and_fine(E)
            }
            #[test]
            fn a_function_spawned_again_is_the_same_function() {
                suite::a_function_spawned_again_is_the_same_function(E)
            }
            #[test]
            fn promise_resolving_functions_have_their_own_properties() {
                suite::promise_resolving_functions_have_their_own_properties(E)
            }
            #[test]
            fn performance_clock_is_shared_and_starts_at_spawn() {
                suite::performance_clock_is_shared_and_starts_at_spawn(E)
            }
            #[test]
            fn unhandled_rejection_fails_the_agent() {
                suite::unhandled_rejection_fails_the_agent(E)
            }
            #[test]
            fn modules_await_import_dynamically_and_fail_cleanly() {
                suite::modules_await_import_dynamically_and_fail_cleanly(E)
            }
            #[test]
            fn module_agents_import_relative_modules() {
                suite::module_agents_import_relative_modules(E)
            }
            #[test]
            fn deep_nesting_is_a_clean_error() {
                suite::deep_nesting_is_a_clean_error(E)
            }
            #[test]
            fn unreadable_message_rejects_recv_only() {
                suite::unreadable_message_rejects_recv_only(E)
            }
            #[test]
            fn clone_covers_the_html_types() {
                suite::clone_covers_the_html_types(E)
            }
            #[test]
            fn clone_keeps_keys_of_every_kind() {
                suite::clone_keeps_keys_of_every_kind(E)
            }
            #[test]
            fn clone_defines_array_elements() {
                suite::clone_defines_array_elements(E)
            }
            #[test]
            fn clone_ignores_replaced_builtins() {
                suite::clone_ignores_replaced_builtins(E)
            }
            #[test]
            fn builtin_accessors_behave_before_and_after_first_use() {
                suite::builtin_accessors_behave_before_and_after_first_use(E)
            }
            #[test]
            fn functions_have_their_standard_properties() {
                suite::functions_have_their_standard_properties(E)
            }
            #[test]
            fn structured_clone_of_a_primitive_is_itself() {
                suite::structured_clone_of_a_primitive_is_itself(E)
            }
            #[test]
            fn dom_exception_is_there_when_first_needed() {
                suite::dom_exception_is_there_when_first_needed(E)
            }
            #[test]
            fn dom_exception_atob_and_btoa_behave_as_the_web_s() {
                suite::dom_exception_atob_and_btoa_behave_as_the_web_s(E)
            }
            #[test]
            fn typed_arrays_are_there_when_first_needed() {
                suite::typed_arrays_are_there_when_first_needed(E)
            }
            #[test]
            fn date_is_there_when_first_needed() {
                suite::date_is_there_when_first_needed(E)
            }
            #[test]
            fn clone_errors_have_no_side_effects() {
                suite::clone_errors_have_no_side_effects(E)
            }
            #[test]
            fn transfer_moves_buffers() {
                suite::transfer_moves_buffers(E)
            }
            #[test]
            fn transfer_errors_change_nothing() {
                suite::transfer_errors_change_nothing(E)
            }
            #[test]
            fn clone_follows_the_html_rules() {
                suite::clone_follows_the_html_rules(E)
            }
            #[test]
            fn shared_array_buffers_are_shared() {
                suite::shared_array_buffers_are_shared(E)
            }
            #[test]
            fn atomics_wait_async_and_notify_cross_agents() {
                suite::atomics_wait_async_and_notify_cross_agents(E)
            }
            #[test]
            fn blocked_waiters_hand_off_their_threads() {
                suite::blocked_waiters_hand_off_their_threads(E)
            }
            #[test]
            fn atomics_ping_pong_is_progress_and_drops_cleanly() {
                suite::atomics_ping_pong_is_progress_and_drops_cleanly(E)
            }
            #[test]
            fn atomics_wait_results_and_errors() {
                suite::atomics_wait_results_and_errors(E)
            }
            #[test]
            fn agents_that_cannot_block_throw() {
                suite::agents_that_cannot_block_throw(E)
            }
            #[test]
            fn terminate_wakes_a_blocked_waiter() {
                suite::terminate_wakes_a_blocked_waiter(E)
            }
            #[test]
            fn growable_sab_growth_is_seen_by_other_agents() {
                suite::growable_sab_growth_is_seen_by_other_agents(E)
            }
            #[test]
            fn realms_have_their_own_intrinsics_and_share_the_futex() {
                suite::realms_have_their_own_intrinsics_and_share_the_futex(E)
            }
            #[test]
            fn unknown_engine_is_a_type_error() {
                suite::unknown_engine_is_a_type_error(E)
            }
            #[test]
            fn terminate_racing_start_join_and_exit_is_consistent() {
                suite::terminate_racing_start_join_and_exit_is_consistent(E)
            }
            #[test]
            fn dispose_with_pending_work_is_clean() {
                suite::dispose_with_pending_work_is_clean(E)
            }
            #[test]
            fn errors_cross_as_data() {
                suite::errors_cross_as_data(E)
            }
            #[test]
            fn terminate_keeps_what_was_sent_both_ways() {
                suite::terminate_keeps_what_was_sent_both_ways(E)
            }
            #[test]
            fn terminate_during_module_evaluation() {
                suite::terminate_during_module_evaluation(E)
            }
            #[test]
            fn heap_limit_ends_only_that_agent() {
                suite::heap_limit_ends_only_that_agent(E)
            }
            #[test]
            fn terminate_stops_an_endless_microtask_loop() {
                suite::terminate_stops_an_endless_microtask_loop(E)
            }
            #[test]
            fn worker_round_trip_errors_and_close() {
                suite::worker_round_trip_errors_and_close(E)
            }
            #[test]
            fn module_worker_imports_relative_modules() {
                suite::module_worker_imports_relative_modules(E)
            }
            #[test]
            fn message_port_transferred_to_a_third_agent_then_used() {
                suite::message_port_transferred_to_a_third_agent_then_used(E)
            }
            #[test]
            fn broadcast_channel_reaches_every_listener() {
                suite::broadcast_channel_reaches_every_listener(E)
            }
            #[test]
            fn close_on_end_tells_the_peers_of_an_ended_agent() {
                suite::close_on_end_tells_the_peers_of_an_ended_agent(E)
            }
            #[test]
            fn recursion_is_bounded_on_every_thread() {
                suite::recursion_is_bounded_on_every_thread(E)
            }
            #[test]
            fn heap_limit_counts_buffers_and_shared_memory() {
                suite::heap_limit_counts_buffers_and_shared_memory(E)
            }
            #[test]
            fn stack_limit_makes_recursion_a_range_error_sooner() {
                suite::stack_limit_makes_recursion_a_range_error_sooner(E)
            }
            #[test]
            fn turn_limit_ends_a_runaway_turn() {
                suite::turn_limit_ends_a_runaway_turn(E)
            }
            #[test]
            fn cpu_limit_counts_every_turn_but_not_waits() {
                suite::cpu_limit_counts_every_turn_but_not_waits(E)
            }
            #[test]
            fn limits_are_inherited_and_checked() {
                suite::limits_are_inherited_and_checked(E)
            }
            #[test]
            fn terminating_a_parent_ends_its_descendants_first() {
                suite::terminating_a_parent_ends_its_descendants_first(E)
            }
            #[test]
            fn a_failing_parent_ends_its_descendants_first() {
                suite::a_failing_parent_ends_its_descendants_first(E)
            }
            #[test]
            fn a_completed_parent_joins_its_children_first() {
                suite::a_completed_parent_joins_its_children_first(E)
            }
            #[test]
            fn warm_agents_start_fresh_with_their_own_settings() {
                suite::warm_agents_start_fresh_with_their_own_settings(E)
            }
            #[test]
            fn clone_keeps_lone_surrogate_keys() {
                suite::clone_keeps_lone_surrogate_keys(E)
            }
            #[test]
            fn message_port_closes_when_its_holder_ends() {
                suite::message_port_closes_when_its_holder_ends(E)
            }
            #[test]
            fn agents_busy_waiting_on_another_do_not_starve_it() {
                suite::agents_busy_waiting_on_another_do_not_starve_it(E)
            }
            #[test]
            fn copies_past_the_heap_limit_end_only_that_agent() {
                suite::copies_past_the_heap_limit_end_only_that_agent(E)
            }
            #[test]
            fn join_twice_and_terminate_after_the_end() {
                suite::join_twice_and_terminate_after_the_end(E)
            }
        }
    };
}

#[cfg(feature = "quickjs")]
backend_suite!(quickjs, "quickjs");

#[cfg(feature = "v8")]
backend_suite!(v8, "v8");

#[cfg(feature = "boa")]
backend_suite!(boa, "boa");
