// zerocp client library, everything but the Asio adapters (<zcp/asio.hpp>).
#pragma once

#include <zcp/error.hpp>
#include <zcp/loan.hpp>
#include <zcp/publisher.hpp>
#include <zcp/runtime.hpp>
#include <zcp/sample.hpp>
#include <zcp/subscriber.hpp>
#include <zcp/topic.hpp>
