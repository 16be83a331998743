/*
 * client/desk/page_history.c - (being written)
 */
#include "desk_int.h"
