/*
 *  src_synapse.h: the Sleep Replay Consolidation (SRC) Hebbian rule as an
 *  event-driven NEST synapse (part of sleep-replay, MIT licence).
 *
 *  SRC (Tadros et al., Nat. Commun. 2022; SRC_SPEC.md section 4), per step t and
 *  weight layer l, after the step's input was delivered and the threshold tested:
 *
 *    for every post i with s_l[i] = 1 and every pre j:
 *        W[i, j] += inc * f(W[i, j])   if s_{l-1}[j] = 1   (pre fired in the same step)
 *        W[i, j] -= dec * f(W[i, j])   otherwise
 *    f(w) = 2 * (1 - 1 / (1 + exp(-w / w_scale)))   (w_scale = 0.001: the reference rule;
 *                                                    w_scale = inf: f = 1, the plain rule)
 *
 *  and the delivered voltage jump of a pre spike is alpha * W (mV).
 *
 *  A NEST synapse only runs when its presynaptic neuron fires, so the rule is
 *  applied lazily (the "lazy replay"): the postsynaptic neuron archives its spike
 *  times (ArchivingNode); when a pre spike stamped t_pre is delivered, the synapse
 *  first replays, in order, every post spike T with t_applied < T <= t_pre (the
 *  post spikes of the steps before the one in which this spike arrives), then
 *  transmits alpha * W. A replayed post spike is a coincidence (potentiation) iff
 *  T == t_last_pre + delay, i.e. the previous pre spike arrived in the very step in
 *  which the post neuron fired; every other post spike depresses. Since W only
 *  matters when it is transmitted, this is exact. Reading "weight" (get_status)
 *  reports W with the pending post spikes replayed (the flush), without changing
 *  the synapse, so a weight read at any time is the SRC weight of that time.
 *
 *  Timing (NEST stamps a spike of step k with (k + 1) h): a pre spike stamped
 *  t_pre is delivered at the start of the step that ends at t_pre + h, after every
 *  neuron finished the step that ends at t_pre, so post spikes T <= t_pre are
 *  already archived. This is why the delay must be one step (h): the weight is
 *  read when the spike is sent, and with one step of delay that is the start of
 *  the step in which it arrives, as in SRC.
 *
 *  Parameters (per connection): weight W (SRC weight, dimensionless), alpha (mV
 *  per unit weight), inc, dec (>= 0), w_scale (> 0, may be inf). Setting
 *  "weight" discards the post spikes not yet replayed (the new weight holds from
 *  the current time on).
 */
#ifndef SRC_SYNAPSE_H
#define SRC_SYNAPSE_H

#include <cmath>
#include <deque>
#include <limits>

// Includes from nestkernel:
#include "archiving_node.h"
#include "connection.h"
#include "histentry.h"
#include "kernel_manager.h"

namespace srcnest
{

/*
 *  The time of the last spike of an ArchivingNode (ms; -1 before its first one).
 *  ArchivingNode::get_spiketime_ms() is protected; a pointer to it formed through a
 *  derived class is how C++ lets code outside the class call it. It is an inline
 *  read of one double, against get_history(), a virtual call that walks the history.
 */
struct ArchiveAccess : nest::ArchivingNode
{
  static double
  last_spike_ms( const nest::Node& node )
  {
    constexpr double ( nest::ArchivingNode::*get )() const = &ArchiveAccess::get_spiketime_ms;
    return ( static_cast< const nest::ArchivingNode& >( node ).*get )();
  }
};

template < typename targetidentifierT >
class src_synapse : public nest::Connection< targetidentifierT >
{
public:
  using CommonPropertiesType = nest::CommonSynapseProperties;
  using ConnectionBase = nest::Connection< targetidentifierT >;
  using History = std::deque< nest::histentry >;

  static constexpr nest::ConnectionModelProperties properties = nest::ConnectionModelProperties::HAS_DELAY
    | nest::ConnectionModelProperties::IS_PRIMARY | nest::ConnectionModelProperties::SUPPORTS_LBL;

  src_synapse()
    : ConnectionBase()
    , weight_( 1.0 )
    , alpha_( 1.0 )
    , inc_( 0.0 )
    , dec_( 0.0 )
    , t_last_pre_( -std::numeric_limits< double >::infinity() )
    , t_applied_( -std::numeric_limits< double >::infinity() )
    , w_scale_( 0.001 )
  {
  }

  src_synapse( const src_synapse& ) = default;
  src_synapse& operator=( const src_synapse& ) = default;

  using ConnectionBase::get_delay;
  using ConnectionBase::get_delay_steps;
  using ConnectionBase::get_rport;
  using ConnectionBase::get_target;

  class ConnTestDummyNode : public nest::ConnTestDummyNodeBase
  {
  public:
    using nest::ConnTestDummyNodeBase::handles_test_event;
    size_t
    handles_test_event( nest::SpikeEvent&, size_t ) override
    {
      return nest::invalid_port;
    }
  };

  void
  check_connection( nest::Node& s, nest::Node& t, size_t receptor_type, const CommonPropertiesType& )
  {
    ConnTestDummyNode dummy_target;
    ConnectionBase::check_connection_( dummy_target, s, t, receptor_type );
    check_delay_();
    if ( dynamic_cast< nest::ArchivingNode* >( &t ) == nullptr )
    {
      // send() reads the target's last spike time as an ArchivingNode
      throw nest::IllegalConnection( "src_synapse needs a target that archives its spikes (an ArchivingNode)" );
    }
    // post spikes before the connection exists are not this synapse's
    t_applied_ = std::max( t_applied_, now_ms_() );
    t.register_stdp_connection( t_applied_, get_delay() );
  }

  bool
  send( nest::Event& e, size_t tid, const CommonPropertiesType& )
  {
    const double t_spike = e.get_stamp().get_ms();
    nest::Node* target = get_target( tid );
    // post spikes T in (t_applied, t_spike]: the steps before the one this spike arrives in.
    // None when the target has not fired after t_applied (get_history would return an
    // empty range and touch no access counter), the common case: skip the lookup.
    if ( ArchiveAccess::last_spike_ms( *target ) > t_applied_ )
    {
      History::iterator start;
      History::iterator finish;
      target->get_history( t_applied_, t_spike, &start, &finish );
      weight_ = replay_( weight_, start, finish );
    }
    t_applied_ = std::max( t_applied_, t_spike );
    t_last_pre_ = t_spike;

    e.set_receiver( *target );
    e.set_weight( alpha_ * weight_ );
    e.set_delay_steps( get_delay_steps() );
    e.set_rport( get_rport() );
    e();
    return true;
  }

  void
  get_status( Dictionary& d ) const
  {
    ConnectionBase::get_status( d );
    d[ nest::names::weight ] = flushed_weight();
    d[ "alpha" ] = alpha_;
    d[ "inc" ] = inc_;
    d[ "dec" ] = dec_;
    d[ "w_scale" ] = w_scale_;
    d[ nest::names::size_of ] = static_cast< long >( sizeof( *this ) );
  }

  void
  set_status( const Dictionary& d, nest::ConnectorModel& cm )
  {
    ConnectionBase::set_status( d, cm );
    if ( d.known( nest::names::delay ) )
    {
      check_delay_();
    }
    double w = weight_;
    if ( d.update_value( nest::names::weight, w ) )
    {
      weight_ = w;
      // the new weight holds from now on: post spikes not yet replayed are dropped
      t_applied_ = std::max( t_applied_, now_ms_() );
    }
    double alpha = alpha_, inc = inc_, dec = dec_, w_scale = w_scale_;
    d.update_value( "alpha", alpha );
    d.update_value( "inc", inc );
    d.update_value( "dec", dec );
    d.update_value( "w_scale", w_scale );
    if ( not( std::isfinite( alpha ) and std::isfinite( inc ) and std::isfinite( dec ) and inc >= 0 and dec >= 0
           and w_scale > 0 ) )
    {
      throw nest::BadProperty( "src_synapse: alpha must be finite, inc and dec finite and >= 0, w_scale > 0" );
    }
    alpha_ = alpha;
    inc_ = inc;
    dec_ = dec;
    w_scale_ = w_scale;
  }

  void
  set_weight( double w )
  {
    weight_ = w;
  }

  //! The weight with every archived post spike after t_applied replayed (the flush);
  //! the synapse and the neuron's history (access counters) are left as they were.
  double
  flushed_weight() const
  {
    nest::Node* target = get_target( 0 );
    if ( target == nullptr or ArchiveAccess::last_spike_ms( *target ) <= t_applied_ )
    {
      return weight_;  // nothing pending (as in send())
    }
    History::iterator start;
    History::iterator finish;
    target->get_history( t_applied_, std::numeric_limits< double >::max(), &start, &finish );
    const double w = replay_( weight_, start, finish );
    for ( History::iterator it = start; it != finish; ++it )
    {
      --( it->access_counter_ );  // get_history counted this read; a flush is not a read
    }
    return w;
  }

private:
  static double
  now_ms_()
  {
    return nest::kernel().simulation_manager.get_time().get_ms();
  }

  void
  check_delay_() const
  {
    if ( get_delay_steps() != 1 )
    {
      throw nest::BadProperty(
        "src_synapse needs a delay of exactly one simulation step (the resolution): SRC reads the weight "
        "in the step the spike arrives in, and NEST reads it when the spike is sent" );
    }
  }

  //! The weight after the post spikes in [start, finish), replayed in order.
  double
  replay_( double w, History::iterator start, History::iterator finish ) const
  {
    const double h = nest::Time::get_resolution().get_ms();
    const double t_coincident = t_last_pre_ + get_delay();
    const bool plain = std::isinf( w_scale_ );
    for ( ; start != finish; ++start )
    {
      // the same operations, in the same order, as snn.network.hebbian_rows
      const double f = plain ? 1.0 : 2.0 * ( 1.0 - 1.0 / ( 1.0 + std::exp( -w / w_scale_ ) ) );
      w = std::abs( start->t_ - t_coincident ) < 0.5 * h ? w + inc_ * f : w - dec_ * f;
    }
    return w;
  }

  double weight_;      //!< SRC weight W (dimensionless)
  double alpha_;       //!< delivered jump per unit weight (mV)
  double inc_;         //!< potentiation amplitude
  double dec_;         //!< depression amplitude
  double t_last_pre_;  //!< stamp of the last pre spike (ms)
  double t_applied_;   //!< post spikes up to this time (ms) are in weight_
  double w_scale_;     //!< weight scale of f(w); inf: f = 1
};

template < typename targetidentifierT >
constexpr nest::ConnectionModelProperties src_synapse< targetidentifierT >::properties;

}  // namespace srcnest

#endif  // SRC_SYNAPSE_H
