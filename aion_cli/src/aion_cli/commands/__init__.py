"""One module per command group of the `aion` CLI.

==========================================================  =================
``aion demo``                                               `demo`
``aion run``                                                `run`
``aion serve``, ``aion worker``                             `serve`
``aion start``, ``aion result``                             `start`
``aion signal``, ``aion query``, ``aion update``            `messages`
``aion cancel|terminate|pause|resume|reopen``               `lifecycle`
``aion watch``                                              `watch`
``aion schedule create|list|describe|pause|resume|...``     `schedule`
``aion list``, ``aion show``, ``aion history``              `visibility`
``aion replay``                                             `replay`
``aion queue list|describe``                                `queue`
``aion store init|migrate|status``                          `store`
``aion check``                                              `check`
``aion plugins``                                            `plugins`
==========================================================  =================
"""
