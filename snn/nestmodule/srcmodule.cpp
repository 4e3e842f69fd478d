/*
 *  srcmodule.cpp: NEST extension module of sleep-replay (MIT licence).
 *
 *  Registers "src_synapse" (and "src_synapse_lbl"), the SRC Hebbian rule as an
 *  event-driven synapse (src_synapse.h), and exports one C function for reading
 *  many weights at once (NEST's Python API reads a connection's status in about
 *  10 us; this reads it in well under 1 us).
 *
 *  Load with nest.Install("<folder>/srcmodule") after every nest.ResetKernel()
 *  (PyNN's setup() resets the kernel), before any node is created.
 */
#include <deque>
#include <exception>

#include "src_synapse.h"

// Includes from nestkernel:
#include "connection_id.h"
#include "connection_label.h"
#include "nest_extension_interface.h"

namespace srcnest
{
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

// the symbol libltdl looks up in srcmodule.so (outside any namespace: no name mangling)
srcnest::SRCModule srcmodule_LTX_module;

/*
 *  srcnest_read_weights(syn_id, n_max, sources, targets, weights):
 *  every connection of the synapse model with id syn_id (all threads): source
 *  and target node ids and the "weight" its get_status reports (for
 *  src_synapse: with the pending post spikes replayed). Returns the number of
 *  connections written, or -(number of connections) when n_max is too small,
 *  or a value below -2^40 on an error (the message via srcnest_last_error).
 */
static std::string srcnest_error;

extern "C" const char*
srcnest_last_error()
{
  return srcnest_error.c_str();
}

extern "C" long
srcnest_read_weights( long syn_id, long n_max, long* sources, long* targets, double* weights )
{
  try
  {
    std::deque< nest::ConnectionID > conns;
    nest::kernel().connection_manager.get_connections(
      conns, nest::NodeCollectionPTR(), nest::NodeCollectionPTR(), syn_id, nest::UNLABELED_CONNECTION );
    const long n = static_cast< long >( conns.size() );
    if ( n > n_max )
    {
      return -n;
    }
    long i = 0;
    for ( const nest::ConnectionID& c : conns )
    {
      const Dictionary d = nest::kernel().connection_manager.get_synapse_status( c.get_source_node_id(),
        c.get_target_node_id(),
        c.get_target_thread(),
        c.get_synapse_model_id(),
        c.get_port() );
      sources[ i ] = c.get_source_node_id();
      targets[ i ] = c.get_target_node_id();
      weights[ i ] = d.get< double >( nest::names::weight );
      ++i;
    }
    return i;
  }
  catch ( std::exception& e )
  {
    srcnest_error = e.what();
    return -( 1L << 41 );
  }
}
