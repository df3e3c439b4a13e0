# runbook_embed(TARGET NAME FILE...): compiles FILEs into TARGET as
#   namespace runbook::embedded { extern const EmbeddedFile NAME[]; }
# so that the binary works from any directory (schema, report templates).
# The array ends with an entry whose path is null.
set(RUNBOOK_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake)

function(runbook_embed target name)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${name}.cc)
  set(abs_files)
  foreach(f ${ARGN})
    get_filename_component(a ${f} ABSOLUTE)
    list(APPEND abs_files ${a})
  endforeach()
  string(REPLACE ";" "|" joined "${abs_files}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DNAME=${name} -DOUT=${out} "-DFILES=${joined}"
            -P ${RUNBOOK_EMBED_SCRIPT}
    DEPENDS ${abs_files} ${RUNBOOK_EMBED_SCRIPT}
    COMMENT "Embedding ${name}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
