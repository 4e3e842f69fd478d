/*
 *  srcmodule.cpp: NEST extension module of sleep-replay (MIT licence).
 *
 *  Registers "src_synapse" (and "src_synapse_lbl"), the SRC Hebbian rule as an
 *  event-driven synapse (src_synapse.h), and exports one C function that reads
 *  every weight of a synapse model at once: NEST's Python API builds a status
 *  dictionary per connection (about 10 us each), this walks the connection
 *  arrays (tens of ns each).
 *
 *  Load with nest.Install("<folder>/srcmodule") after every nest.ResetKernel()
 *  (PyNN's setup() resets the kernel), before any node is created.
 */
#include <deque>
#include <exception>
#include <map>
#include <string>

#include "src_synapse.h"

// Includes from nestkernel:
#include "connection_id.h"
#include "connection_label.h"
#include "connector_base.h"
#include "nest_extension_interface.h"
#include "target_identifier.h"

namespace srcnest
{
/*
 *  The bulk read: while a request is set, a status query of any one connection of
 *  an src_synapse model on a thread writes (source, target, weight) of all of that
 *  thread's connections of the model into the request's arrays instead.
 */
struct BulkRead
{
  long* sources;
  long* targets;
  double* weights;
  long capacity;
  long count;
};

static BulkRead* bulk_read = nullptr;

template < typename ConnectionT >
void
bulk_fill( const BlockVector< ConnectionT >& connections, const size_t tid, const nest::synindex syn_id )
{
  for ( size_t lcid = 0; lcid < connections.size(); ++lcid )
  {
    const ConnectionT& c = connections[ lcid ];
    if ( c.is_disabled() )
    {
      continue;
    }
    if ( bulk_read->count < bulk_read->capacity )
    {
      const long i = bulk_read->count;
      bulk_read->sources[ i ] = nest::kernel().connection_manager.get_source_node_id( tid, syn_id, lcid );
      bulk_read->targets[ i ] = c.get_target( tid )->get_node_id();
      bulk_read->weights[ i ] = c.flushed_weight();
    }
    ++bulk_read->count;
  }
}

using Plain = src_synapse< nest::TargetIdentifierPtrRport >;
using Labelled = nest::ConnectionLabel< Plain >;

class SRCModule : public nest::NESTExtensionInterface
{
public:
  void
  initialize() override
  {
    nest::register_connection_model< src_synapse >( "src_synapse" );
  }
};
}  // namespace srcnest

/*
 *  NEST's Connector<ConnectionT>::get_synapse_status for the two src_synapse
 *  variants: the usual status of one connection (as NEST's own template does), or,
 *  during a bulk read, the whole thread's connections (explicit specializations,
 *  before the models are registered and the template would be instantiated).
 */
template <>
void
nest::Connector< srcnest::Plain >::get_synapse_status( const size_t tid, const size_t lcid, Dictionary& dict ) const
{
  if ( srcnest::bulk_read )
  {
    srcnest::bulk_fill( C_, tid, syn_id_ );
    return;
  }
  C_[ lcid ].get_status( dict );
  dict[ names::target ] = static_cast< long >( C_[ lcid ].get_target( tid )->get_node_id() );
}

template <>
void
nest::Connector< srcnest::Labelled >::get_synapse_status( const size_t tid,
  const size_t lcid,
  Dictionary& dict ) const
{
  if ( srcnest::bulk_read )
  {
    srcnest::bulk_fill( C_, tid, syn_id_ );
    return;
  }
  C_[ lcid ].get_status( dict );
  dict[ names::target ] = static_cast< long >( C_[ lcid ].get_target( tid )->get_node_id() );
}

// the symbol libltdl looks up in srcmodule.so (outside any namespace: no name mangling)
srcnest::SRCModule srcmodule_LTX_module;

static std::string srcnest_error;

extern "C" const char*
srcnest_last_error()
{
  return srcnest_error.c_str();
}

/*
 *  srcnest_read_weights(syn_id, n_max, sources, targets, weights): every connection
 *  of the src_synapse model with id syn_id (all threads): source and target node
 *  ids and the weight with the pending post spikes replayed. Returns the number of
 *  connections, which were all written if it is <= n_max; a value below -2^40 on
 *  an error (the message via srcnest_last_error).
 */
extern "C" long
srcnest_read_weights( long syn_id, long n_max, long* sources, long* targets, double* weights )
{
  srcnest::BulkRead request{ sources, targets, weights, n_max, 0 };
  try
  {
    // one connection per thread that has some: its status query reads the thread's all
    std::deque< nest::ConnectionID > conns;
    nest::kernel().connection_manager.get_connections(
      conns, nest::NodeCollectionPTR(), nest::NodeCollectionPTR(), syn_id, nest::UNLABELED_CONNECTION );
    std::map< long, nest::ConnectionID > first_per_thread;
    for ( const nest::ConnectionID& c : conns )
    {
      first_per_thread.emplace( c.get_target_thread(), c );
    }
    srcnest::bulk_read = &request;
    for ( const auto& [ tid, c ] : first_per_thread )
    {
      nest::kernel().connection_manager.get_synapse_status(
        c.get_source_node_id(), c.get_target_node_id(), tid, c.get_synapse_model_id(), c.get_port() );
    }
    srcnest::bulk_read = nullptr;
    return request.count;
  }
  catch ( std::exception& e )
  {
    srcnest::bulk_read = nullptr;
    srcnest_error = e.what();
    return -( 1L << 41 );
  }
}
