# ctest install_layout: `cmake --install` into a fresh prefix puts the binary,
# its manual page and both completion scripts where man, bash-completion and
# zsh look for them, and the installed binary runs.
#   cmake -DBUILD=<build dir> -DPREFIX=<empty folder> -P install_check.cmake
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(f bin/runbook share/man/man1/runbook.1 share/bash-completion/completions/runbook
          share/zsh/site-functions/_runbook)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "not installed: ${PREFIX}/${f}")
  endif()
endforeach()
file(READ "${PREFIX}/share/bash-completion/completions/runbook" bash)
if(NOT bash MATCHES "complete -F _runbook runbook")
  message(FATAL_ERROR "the installed bash completion is not the generated one")
endif()
execute_process(COMMAND "${PREFIX}/bin/runbook" --version OUTPUT_VARIABLE version RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT version MATCHES "^runbook ")
  message(FATAL_ERROR "the installed runbook does not run: ${rc} ${version}")
endif()
file(REMOVE_RECURSE "${PREFIX}")
